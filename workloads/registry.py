"""The workload registry: every family's specs and variants, by name.

Adding a workload family: a folder `workloads/<family>/` with `spec.py` (a list `SPECS`),
`model_pytorch.py` and `model_jax.py`, and its name in `FAMILIES` below.
"""

from __future__ import annotations

import importlib

from workloads.spec import WorkloadSpec

FAMILIES = ("cnn", "smoke")
DEFAULT_WORKLOADS = ("cnn",)


class UnknownWorkloadError(KeyError):
    def __str__(self) -> str:
        return self.args[0]

    @classmethod
    def raise_for(cls, name: str):
        raise cls(f"unknown workload {name!r}; `algobench workloads` lists them: "
                  f"{', '.join(sorted(REGISTRY))}")


def validate(specs: list[WorkloadSpec]) -> dict[str, WorkloadSpec]:
    """Index specs by name; reject name clashes, variants of unknown bases and missing targets."""
    by_name: dict[str, WorkloadSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise ValueError(f"workload name {spec.name!r} is registered twice; rename one of them")
        by_name[spec.name] = spec
    for spec in specs:
        if spec.base is not None and spec.base not in by_name:
            raise ValueError(f"variant {spec.name!r} names unknown base workload {spec.base!r}")
        for field in ("validation_target", "test_target"):
            value = getattr(spec, field)
            if not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"workload {spec.name!r} has no {field}; run `algobench set-targets`")
    return by_name


def _load() -> dict[str, WorkloadSpec]:
    specs: list[WorkloadSpec] = []
    for family in FAMILIES:
        specs.extend(importlib.import_module(f"workloads.{family}.spec").SPECS)
    return validate(specs)


REGISTRY: dict[str, WorkloadSpec] = _load()


def get_spec(name: str) -> WorkloadSpec:
    return REGISTRY[name] if name in REGISTRY else UnknownWorkloadError.raise_for(name)
