"""The workload registry: every family's specs and variants, by name.

Adding a workload family: a folder `workloads/<family>/` with `spec.py` (a list `SPECS`),
`model_pytorch.py` and `model_jax.py`, and its name in `FAMILIES` below.
"""

from __future__ import annotations

import difflib
import importlib

from workloads.spec import WorkloadSpec

FAMILIES = ("cnn", "smoke", "dlrm", "gnn", "vit", "lm", "translate", "unet", "conformer", "deepspeech")
DEFAULT_WORKLOADS = ("cnn",)


class UnknownWorkloadError(KeyError):
    def __str__(self) -> str:
        return self.args[0]

    @classmethod
    def raise_for(cls, name: str):
        close = difflib.get_close_matches(name, [*REGISTRY, *PENDING], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise cls(f"unknown workload {name!r}; {hint}`algobench workloads` lists them: "
                  f"{', '.join(sorted(REGISTRY))}")


def validate(specs: list[WorkloadSpec]) -> tuple[dict[str, WorkloadSpec], dict[str, WorkloadSpec]]:
    """Index specs by name: (complete ones, ones still without targets). Name clashes and variants
    of unknown bases are rejected with a ValueError naming the spec and the fix."""
    by_name: dict[str, WorkloadSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise ValueError(f"workload name {spec.name!r} is registered twice; rename one of them")
        by_name[spec.name] = spec
    for spec in specs:
        if spec.base is not None and spec.base not in by_name:
            raise ValueError(f"variant {spec.name!r} names unknown base workload {spec.base!r}; "
                             f"known: {', '.join(sorted(by_name))}")
        if spec.base is not None and by_name[spec.base].base is not None:
            raise ValueError(f"variant {spec.name!r} has a variant ({spec.base!r}) as its base; "
                             "derive it from the base workload")
    complete = {n: s for n, s in by_name.items() if s.has_targets}
    return complete, {n: s for n, s in by_name.items() if not s.has_targets}


def _load() -> tuple[dict[str, WorkloadSpec], dict[str, WorkloadSpec]]:
    specs: list[WorkloadSpec] = []
    for family in FAMILIES:
        specs.extend(importlib.import_module(f"workloads.{family}.spec").SPECS)
    return validate(specs)


# REGISTRY holds the workloads that can be run; PENDING the ones still without targets, which
# only `algobench set-targets` may run (with targets of its own).
REGISTRY, PENDING = _load()
# the nine base workloads (not variants, not the `smoke` test workload), in the registry's order
BASE_WORKLOADS = tuple(name for name, spec in REGISTRY.items() if spec.base is None and name != "smoke")


def get_spec(name: str, *, pending_ok: bool = False) -> WorkloadSpec:
    if name in REGISTRY:
        return REGISTRY[name]
    if name in PENDING and pending_ok:
        return PENDING[name]
    if name in PENDING:
        raise UnknownWorkloadError(pending_message(name))
    UnknownWorkloadError.raise_for(name)


def pending_message(name: str) -> str:
    """Why `run` and `tune` refuse a workload still without targets (docs/adding_a_variant.md
    quotes it)."""
    return (f"workload {name!r} has no validation and test targets yet; run "
            f"`algobench set-targets {name} --out DIR` and paste them into its spec")
