"""Variants of JAX's training step against the step as it is, side by side in one process.

`benchmarks/step_time.py` compares checkouts (`--before`) and XLA flags (`--jax-xla-flags`) between
processes, a minute apart; on a host whose speed wanders between minutes
(docs/scoring.md#the-host-speed-record) that cannot resolve a few percent. Here, per workload, one
process set up as a trial is (benchmarks/step_time.py's `Training`: cores, JAX host devices, the
reference baseline, the trial's batch stream) compiles the baseline's train step once as it is and
once per variant, and they take turns, `--rounds` rounds of `--steps` steps each (the order reversed
every other round; at most two steps in flight, as in a trial). A variant is either

- XLA compiler options, `NAME=VALUE[,NAME=VALUE]` (`compiler_options` of that compile only; values
  `true`/`false` are booleans, digits integers, anything else a string such as an enum's name), or
- a formulation of `FORMULATIONS` by name: the models' functions swapped while the step is traced
  (e.g. `gelu_erfc`, flax's exact GELU, against the models' own).

Prints each one's median milliseconds per step and, paired round by round, each variant's median
ratio to the step as it is (and in how many rounds it was below 1).

    .venv/bin/python benchmarks/jax_step_variants.py --workloads lm translate --variants gelu_erfc
    .venv/bin/python benchmarks/jax_step_variants.py --workloads deepspeech \\
        --variants xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_CONCURRENCY_OPTIMIZED
    .venv/bin/python benchmarks/jax_step_variants.py --table docs/data/jax_step_variants_stop47.json --write
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # this folder's scripts

from step_time import Training  # noqa: E402
from algobench.doc_sections import add_table_options, labelled_runs, printed_recorded_table  # noqa: E402
from harness.calibration import host_id  # noqa: E402
from workloads.registry import BASE_WORKLOADS  # noqa: E402

DOC = REPO / "docs" / "performance.md"
MARKERS = ("<!-- jax step variants table: start -->", "<!-- jax step variants table: end -->")
AS_IS = "as it is"


@contextlib.contextmanager
def _gelu_erfc():
    """Every loaded JAX model's ACTIVATIONS entry holding `layers_jax.gelu` swapped for flax's
    exact GELU (the erfc form, the models' own before stop 47)."""
    import flax.linen as nn

    from workloads import layers_jax

    tables = [m.ACTIVATIONS for n, m in list(sys.modules.items())
              if n.startswith("workloads.") and n.endswith(("model_jax", "layers_jax"))
              and isinstance(getattr(m, "ACTIVATIONS", None), dict)]
    swapped = [(t, k) for t in tables for k, f in t.items() if f is layers_jax.gelu]
    for table_, key in swapped:
        table_[key] = partial(nn.gelu, approximate=False)
    try:
        yield
    finally:
        for table_, key in swapped:
            table_[key] = layers_jax.gelu


@contextlib.contextmanager
def _batch_norm_one_pass():
    """flax's batch norms computing their statistics in one pass, E[x^2] - E[x]^2, where a model
    asks for two (`use_fast_variance=False`: the masked batch norms of `conformer` and
    `deepspeech`): one all-reduce of the statistics across host devices where there are two."""
    from flax.linen import normalization

    two_pass = normalization._compute_stats
    normalization._compute_stats = partial(_one_pass, two_pass)
    try:
        yield
    finally:
        normalization._compute_stats = two_pass


def _one_pass(compute_stats, *args, **kwargs):
    return compute_stats(*args, **{**kwargs, "use_fast_variance": True})


@contextlib.contextmanager
def _zero_padded_by_mask():
    """The speech models' padded frames zeroed by a product with a 0/1 mask instead of a select
    (`layers_jax.zero_padded`, a `where`): the same values for finite activations. The stop-47
    profile of `conformer` put a transposed copy fed by such a select at 4.2% of its op time."""
    from workloads import layers_jax

    def by_mask(x, paddings):
        keep = (paddings <= 0).astype(x.dtype)
        return x * keep.reshape(*keep.shape, *[1] * (x.ndim - 2))

    select = layers_jax.zero_padded
    modules = [m for n, m in list(sys.modules.items()) if n.startswith("workloads.") and n.endswith("model_jax")
               and getattr(m, "zero_padded", None) is select]
    for module in modules:
        module.zero_padded = by_mask
    try:
        yield
    finally:
        for module in modules:
            module.zero_padded = select


FORMULATIONS = {  # name -> a context manager in which the models trace in the variant's form
    "gelu_erfc": _gelu_erfc,
    "batch_norm_one_pass": _batch_norm_one_pass,
    "zero_padded_by_mask": _zero_padded_by_mask,
}


def parse_variant(text: str) -> dict:
    """'gelu_erfc' -> {'formulation': 'gelu_erfc'}; 'a=true,b=3,c=NAME' -> {'xla': {'a': True,
    'b': 3, 'c': 'NAME'}}."""
    if "=" not in text:
        if text not in FORMULATIONS:
            raise SystemExit(f"--variants: {text!r} is neither NAME=VALUE XLA options nor one of "
                             f"{sorted(FORMULATIONS)}")
        return {"formulation": text}
    options = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--variants: {item!r} is not NAME=VALUE (e.g. xla_cpu_use_onednn=true)")
        options[name] = {"true": True, "false": False}.get(value.lower(), int(value) if value.isdigit() else value)
    return {"xla": options}


def compile_variant(train_step, args: tuple, variant: dict):
    """The train step compiled as the variant says; a formulation traces the step's own function
    afresh (`__wrapped__`, under a new jit: jit keeps the traces it has made)."""
    import jax

    if "formulation" not in variant:
        return train_step.lower(*args).compile(compiler_options=variant.get("xla", {}))
    with FORMULATIONS[variant["formulation"]]():
        return jax.jit(lambda *a: train_step.__wrapped__(*a)).lower(*args).compile()


def measure(workload: str, variants: dict[str, dict], rounds: int, steps: int) -> dict:
    import jax

    training = Training.set_up("submissions/nadamw", workload, "jax", None)
    batch = next(training.queue)
    args = (training.params, training.model_state, training.opt["opt_state"], batch, training.backend.make_rng(3))
    compiled = {name: compile_variant(training.opt["train_step"], args, v) for name, v in variants.items()}
    for name, variant in variants.items():  # a formulation the workload's model does not use
        if "formulation" in variant and compiled[name].as_text() == compiled[AS_IS].as_text():
            raise SystemExit(f"variant {name!r} compiles to the same program as the step on {workload}: "
                             "its model does not use what the variant changes")
    times = {name: [] for name in variants}
    for i in range(rounds + 1):  # round 0 warms every variant up, untimed
        for name in (list(variants) if i % 2 == 0 else list(variants)[::-1]):
            training.opt["train_step"] = compiled[name]
            training.sync()
            start = time.perf_counter()
            for step in range(steps):
                previous = training.params
                training.dispatch(step)
                jax.block_until_ready(previous)  # the step before: two in flight, as in a trial
            training.sync()
            if i:
                times[name].append(1e3 * (time.perf_counter() - start) / steps)
    return {"workload": workload, "rounds_ms": times,
            "ms": {name: statistics.median(t) for name, t in times.items()}}


def table(record: dict) -> str:
    names = [n for n in record["variants"] if n != AS_IS]
    lines = [f"On {record['host_id']}, {record['rounds']} rounds of {record['steps']} steps each:", "",
             f"| workload | variant | {AS_IS}, ms/step | variant, ms/step | variant / {AS_IS}, paired "
             "(rounds below 1) |", "|---|---|---|---|---|"]
    for r in record["results"]:
        for n in names:
            ratios = [a / b for a, b in zip(r["rounds_ms"][n], r["rounds_ms"][AS_IS])]
            lines.append(f"| `{r['workload']}` | `{n}` | {r['ms'][AS_IS]:.2f} | {r['ms'][n]:.2f} | "
                         f"{statistics.median(ratios):.3f} ({sum(x < 1 for x in ratios)} of {len(ratios)}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--variants", nargs="+", required=False, default=[],
                        metavar="NAME=VALUE[,NAME=VALUE] | FORMULATION")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", help="write the results as JSON")
    add_table_options(parser, DOC)
    args = parser.parse_args()
    if printed_recorded_table(args, DOC, MARKERS, labelled_runs(table)):
        return
    if not args.variants:
        raise SystemExit("--variants: name at least one variant to compare with the step as it is")
    variants = {AS_IS: {}, **{text: parse_variant(text) for text in args.variants}}
    record = {"host_id": host_id(), "rounds": args.rounds, "steps": args.steps, "variants": variants,
              "results": [measure(w, variants, args.rounds, args.steps) for w in args.workloads]}
    print(table(record))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
