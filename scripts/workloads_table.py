"""Print the workloads table of docs/workloads.md from the registry and measured times.

Every number but the times comes from the code: the spec (targets, budget, step hint, metric) and
the JAX model's parameter shapes (the parameter count; PyTorch's is the same, the parity tests
check it). Times to target come from `benchmarks/time_to_target.py --json FILE` runs of the
reference baseline, passed with `--times FILE ...`: the median over the runs per framework, and
how many of them reached the target. `--target-setting DIR` adds the confirmation runs of
`algobench set-targets ... --out DIR/<workload>`, timed to the spec's targets as they are now, for
the cells no benchmark run fills (those that had both cores where there are any, else the one-core
ones, said so in the cell); such cells are marked with a dagger (†). A double dagger (‡)
marks a cell with a run whose host took over 5% of its CPU time (steal).

    .venv/bin/python scripts/workloads_table.py --times results/ttt_*.json \
        --target-setting results/targets > table.md
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from harness import host_load

# The reference machine's cores (docs/workloads.md): a target-setting run given fewer (some were run
# under `taskset -c 0` beside others) times the workload only where nothing better exists.
REFERENCE_CORES = 2


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


def measured(times: list[dict], workload: str, framework: str) -> str:
    """The median time to target of the reference baseline's runs and how many reached it; the
    time-to-target benchmark's runs where there are any, else the target-setting runs (†). ‡ marks
    a cell with a run timed on a contended host (over 5% steal, harness/host_load.py)."""
    runs = [r for r in times if r["workload"] == workload and r["framework"] == framework
            and r["submission"] == "nadamw"]
    benchmarked = [r for r in runs if r.get("source") != "target-setting"]
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
    return f"{statistics.median(reached):.0f} s ({len(reached)}/{len(runs)}){mark}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", nargs="*", default=[], help="JSON files from time_to_target.py")
    parser.add_argument("--target-setting", type=Path, default=None,
                        help="the folder of `algobench set-targets --out` folders, one per workload")
    args = parser.parse_args()
    from workloads.registry import PENDING, REGISTRY

    times = [row for path in args.times for row in json.loads(Path(path).read_text())]
    if args.target_setting:
        times += target_setting_times(args.target_setting, {**REGISTRY, **PENDING})
    print("| workload | task and data | parameters | metric (direction) | validation / test target "
          "| budget | eval period | step hint | NAdamW time-to-target, PyTorch | JAX |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, spec in sorted({**REGISTRY, **PENDING}.items(), key=lambda kv: (kv[1].family, kv[1].base or "", kv[0])):
        direction = "lower is better" if spec.lower_is_better else "higher is better"
        targets = (f"{spec.validation_target:g} / {spec.test_target:g}" if spec.has_targets
                   else "pending (`algobench set-targets`)")
        label = f"`{name}`" + (f" (variant of `{spec.base}`)" if spec.base else "")
        print(f"| {label} | {spec.description} | {parameter_count(spec):,} | {spec.target_metric} "
              f"({direction}) | {targets} | {spec.max_runtime_sec:g} s | {spec.eval_period_sec:g} s "
              f"| {spec.step_hint} | {measured(times, name, 'pytorch')} | {measured(times, name, 'jax')} |")


if __name__ == "__main__":
    main()
