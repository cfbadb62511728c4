"""The workloads table of docs/workloads.md, from the registry and recorded times.

Every number but the times comes from the code: the spec (targets, budget, eval period, step
hint, metric) and the JAX model's parameter shapes (the parameter count; PyTorch's is the same,
the parity tests check it). Times to target, the reference baseline's (NAdamW point 0), come from
recorded runs, in this order of preference per cell:

- `--facts FILE ...`: the trial facts of `benchmarks/min_detectable_speedup.py --facts-json`
  (five seeds per workload and framework), those timed at the spec's validation target as it is
  now: the median and how many reached it;
- `--times FILE ...`: rows as `benchmarks/time_to_target.py --json` writes them (a row's `mark`
  is appended to its cell);
- `--target-setting DIR`: the confirmation runs of `algobench set-targets ... --out
  DIR/<workload>`, timed to the spec's targets as they are now (those that had both cores where
  there are any, else the one-core ones, said so in the cell), marked with a dagger (†).

A double dagger (‡) marks a cell with a run whose host took over 5% of its CPU time (steal).
`--write` puts the table between the markers of docs/workloads.md, `--check` (CI) fails where
the page differs; without either the table is printed.

    .venv/bin/python scripts/workloads_table.py --write   # from the recorded inputs (RECORDED_*)
    .venv/bin/python scripts/workloads_table.py --check   # CI
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from algobench.doc_sections import write_or_check  # noqa: E402
from harness import host_load  # noqa: E402

# The reference machine's cores (docs/workloads.md): a target-setting run given fewer (some were run
# under `taskset -c 0` beside others) times the workload only where nothing better exists.
REFERENCE_CORES = 2
DOC = REPO / "docs" / "workloads.md"
DOC_MARKERS = ("<!-- workloads table: start -->", "<!-- workloads table: end -->")
# The recorded times the page's table is written from (the default inputs of --write/--check)
RECORDED_FACTS = ["docs/data/noise_stop38_pytorch.json", "docs/data/noise_stop35_jax.json"]
RECORDED_TIMES = ["docs/data/workload_times_variants_2026-11-23.json"]


def parameter_count(spec) -> int:
    import jax

    from workloads.jax_workload import JaxWorkload

    shapes = jax.tree.leaves(JaxWorkload(spec).param_shapes)
    return int(sum(np.prod(s.shape) for s in shapes))


def target_setting_times(root: Path, specs: dict) -> list[dict]:
    """Time to target of every confirmation run that `root/<workload>/targets.json` lists (the
    best point's tuning run among them), against the workload's registered validation target (the
    time-to-target rule of the scoring); `one_core` marks a run given fewer cores than the
    reference machine's."""
    from harness.logs import read_trial
    from scoring.time_to_target import time_to_target

    rows = []
    for name, spec in specs.items():
        record = root / name / "targets.json"
        if not spec.has_targets or not record.exists():
            continue
        for run in json.loads(record.read_text())["confirmation"]:
            trial = read_trial(run["folder"])
            seconds = time_to_target(trial["evals"], spec.target_metric, spec.validation_target,
                                     spec.lower_is_better)
            rows.append({"submission": "nadamw", "workload": name, "framework": run["framework"],
                         "source": "target-setting",
                         "one_core": trial["meta"]["hardware"]["cores_used"] < REFERENCE_CORES,
                         "host_steal": host_load.of_trial(trial["meta"]),
                         "time_to_target": None if seconds == float("inf") else seconds})
    return rows


def facts_times(paths: list[str], specs: dict) -> list[dict]:
    """The five-seed runs of `min_detectable_speedup.py --facts-json` files, as time rows (source
    "seeds"), only those timed at the spec's validation target as it is now."""
    rows = []
    for path in paths:
        for trial in json.loads(Path(path).read_text())["trials"]:
            spec = specs.get(trial["workload"])
            if spec is None or not spec.has_targets or trial["validation_target"] != spec.validation_target:
                continue
            rows.append({**trial, "source": "seeds"})
    return rows


def measured(times: list[dict], workload: str, framework: str) -> str:
    """The median time to target of the reference baseline's runs and how many reached it: the
    five-seed runs (`facts_times`) where there are any, else the time-to-target benchmark's, else
    the target-setting runs (†). ‡ marks a cell with a run timed on a contended host (over 5%
    steal, harness/host_load.py); a row's own `mark` is appended."""
    runs = [r for r in times if r["workload"] == workload and r["framework"] == framework
            and r["submission"] == "nadamw"]
    seeds = [r for r in runs if r.get("source") == "seeds"]
    benchmarked = seeds or [r for r in runs if r.get("source") != "target-setting"]
    both_cores = [r for r in runs if not r.get("one_core")]
    runs = benchmarked or both_cores or runs
    if not runs:
        return "not measured"
    reached = [r["time_to_target"] for r in runs if r["time_to_target"] is not None]
    if not reached:
        return f"not reached (0/{len(runs)})"
    mark = "" if benchmarked else " †" if both_cores else " † (one core, shared machine)"
    if any(host_load.is_contended(r.get("host_steal")) for r in runs):
        mark += " ‡"
    mark += "".join(f" {m}" for m in sorted({r["mark"] for r in runs if r.get("mark")}))
    return f"{statistics.median(reached):.0f} s ({len(reached)}/{len(runs)}){mark}"


def table(times: list[dict], specs: dict) -> str:
    lines = ["| workload | task and data | parameters | metric (direction) | validation / test target "
             "| budget | eval period | step hint | NAdamW time-to-target, PyTorch | JAX |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, spec in sorted(specs.items(), key=lambda kv: (kv[1].family, kv[1].base or "", kv[0])):
        direction = "lower is better" if spec.lower_is_better else "higher is better"
        targets = (f"{spec.validation_target:g} / {spec.test_target:g}" if spec.has_targets
                   else "pending (`algobench set-targets`)")
        label = f"`{name}`" + (f" (variant of `{spec.base}`)" if spec.base else "")
        lines.append(
            f"| {label} | {spec.description} | {parameter_count(spec):,} | {spec.target_metric} "
            f"({direction}) | {targets} | {spec.max_runtime_sec:g} s | {spec.eval_period_sec:g} s "
            f"| {spec.step_hint} | {measured(times, name, 'pytorch')} | {measured(times, name, 'jax')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", nargs="*", default=None, help="trial facts of "
                        "min_detectable_speedup.py --facts-json (default: the recorded ones)")
    parser.add_argument("--times", nargs="*", default=None,
                        help="JSON files from time_to_target.py (default: the recorded ones)")
    parser.add_argument("--target-setting", type=Path, default=None,
                        help="the folder of `algobench set-targets --out` folders, one per workload")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write the table into {DOC}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 where {DOC} differs")
    args = parser.parse_args(argv)
    from workloads.registry import PENDING, REGISTRY

    specs = {**REGISTRY, **PENDING}
    args.facts = [str(REPO / p) for p in RECORDED_FACTS] if args.facts is None else args.facts
    args.times = [str(REPO / p) for p in RECORDED_TIMES] if args.times is None else args.times
    times = facts_times(args.facts, specs)
    times += [row for path in args.times for row in json.loads(Path(path).read_text())]
    if args.target_setting:
        times += target_setting_times(args.target_setting, specs)
    body = table(times, specs)
    if not (args.write or args.check):
        print(body)
        return 0
    return write_or_check(DOC, body, *DOC_MARKERS, write=args.write, what="the workloads table",
                          source="the registry and the recorded times",
                          fix="scripts/workloads_table.py --write")


if __name__ == "__main__":
    sys.exit(main())
