"""What running the submission in a process of its own costs per step (issue 27's goal: under 2%).

Per workload and framework, in one fresh process pinned to `--threads` cores, `--repeats` pairs of
real trials through `harness.trial.run_trial` with the NAdamW baseline at its first search-space
point, one in-process and one in a separate (sandboxed) submission process, the order alternating
(in-process first in even repeats). Each trial runs `--warmup + --steps` steps with its targets out
of reach and evaluates at step `--warmup` and at the end only; its seconds per step are the
submission time between those two evals (eval rows' `score`) over `--steps`, so compilation and
`init_optimizer_state` stay out. Both use the harness's own records: the per-step cost of the split
(a round trip over the socket, the command's pickling) is what the ratio shows.

Prints per workload and framework: both ms/step (median over the repeats) and the ratio
separate/in-process (median [min, max] of the per-repeat ratios). `--out` writes every repeat as
JSON, with the host, for a table in docs/integrity.md (figures come from that file, never typed).

    .venv/bin/python benchmarks/process_split_overhead.py --out docs/data/process_split_overhead.json
    .venv/bin/python benchmarks/process_split_overhead.py --write-doc docs/data/process_split_overhead.json docs/data/process_split_overhead_stop33.json
    .venv/bin/python benchmarks/process_split_overhead.py --workloads smoke --repeats 1 --steps 6  # a test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

DOC = REPO / "docs" / "integrity.md"
DOC_MARKERS = ("<!-- split overhead table: start -->", "<!-- split overhead table: end -->")

from harness import calibration  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402
from workloads.registry import BASE_WORKLOADS  # noqa: E402
SUBMISSION = REPO / "submissions" / "nadamw"
ISOLATIONS = ("in-process", "separate-process")


def seconds_per_step(workload: str, framework: str, isolation: str, out: Path, args) -> float:
    """One trial through `run_trial`; its submission time per step between its two evals."""
    from harness import loader, search_space
    from harness.logs import read_trial
    from harness.task import TrialTask
    from harness.trial import run_trial
    from workloads.registry import get_spec

    spec = get_spec(workload, pending_ok=True)
    unreachable = -1e30 if spec.lower_is_better else 1e30
    point = search_space.trial_point(search_space.load(SUBMISSION / loader.SEARCH_SPACE_FILE), 0, 0)
    task = TrialTask(str(SUBMISSION), workload, framework, "external", 0, 0, 0, point, str(out),
                     keep_checkpoint=False,
                     spec_overrides={"validation_target": unreachable, "test_target": unreachable,
                                     "max_runtime_sec": 1e9, "max_steps": args.warmup + args.steps})
    meta = run_trial(task, cores=args.cores, isolation=isolation,
                     eval_steps=(args.warmup, args.warmup + args.steps))
    if meta["status"] != "completed" or meta["isolation"] != isolation:
        raise RuntimeError(f"{workload} {framework} {isolation}: ended {meta['status']}: {meta['error']}")
    rows = [r for r in read_trial(task.folder)["evals"] if not r["snapshot"]]
    first, last = rows[0], rows[-1]
    return (last["score"] - first["score"]) / (last["global_step"] - first["global_step"])


def child(workload: str, framework: str, args) -> list[dict]:
    from harness import backends

    args.cores = backends.pin_cores(args.threads)
    if framework == "jax":  # as a trial does: one host device per core
        backends.use_jax_host_devices(len(args.cores))
    repeats = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            order = ISOLATIONS if i % 2 == 0 else ISOLATIONS[::-1]
            repeats.append({isolation: seconds_per_step(workload, framework, isolation,
                                                        Path(tmp) / f"{isolation}_{i}", args)
                            for isolation in order})
    return repeats


def tables(records: dict[str, dict]) -> str:
    """The docs tables of recorded runs (file name: record), one after another, each with its
    file and host: runs on different hosts or of different code are never mixed in one table."""
    return "\n\n".join(f"`{name}`: " + table(record) for name, record in records.items())


def table(recorded: dict) -> str:
    """The docs table of a recorded run: per workload and framework, both ms/step and the ratio."""
    lines = [f"On {recorded['host']}, {recorded['warmup']} + {recorded['steps']} steps a trial, "
             f"{len(recorded['results'][0]['repeats'])} repeats (alternating order):", "",
             "| workload | framework | in-process ms/step | separate-process ms/step | separate / in-process, median [min, max] |",
             "|---|---|---|---|---|"]
    for result in recorded["results"]:
        repeats = result["repeats"]
        ratios = [r["separate-process"] / r["in-process"] for r in repeats]
        ms = {k: 1e3 * statistics.median(r[k] for r in repeats) for k in ISOLATIONS}
        lines.append(f"| `{result['workload']}` | {result['framework']} | {ms['in-process']:.1f} | "
                     f"{ms['separate-process']:.1f} | {statistics.median(ratios):.3f} "
                     f"[{min(ratios):.3f}, {max(ratios):.3f}] |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(BASE_WORKLOADS))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--threads", type=int, default=None, help="cores per trial (default: all)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--write-doc", type=Path, nargs="+", metavar="RECORDED_JSON",
                        help="write the tables of recorded runs into docs/integrity.md, in the "
                             "order given (runs nothing)")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args)))
        return
    if args.write_doc:
        from algobench.doc_sections import write_section

        records = {path.name: json.loads(path.read_text()) for path in args.write_doc}
        write_section(DOC, tables(records), *DOC_MARKERS)
        print(f"wrote the table in {DOC}")
        return
    results = []
    passed = [a for a in sys.argv[1:] if not a.startswith("--out") and a != str(args.out)]
    print(f"{'workload':<12}{'framework':<10}{'in-process ms':>15}{'separate ms':>13}  ratio [min, max]")
    for workload in args.workloads.split(","):
        for framework in args.frameworks.split(","):
            done = subprocess.run([sys.executable, __file__, *passed, "--child", workload, framework],
                                  capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                print(f"{workload:<12}{framework:<10}failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            repeats = json.loads(done.stdout.strip().splitlines()[-1])
            ratios = [r["separate-process"] / r["in-process"] for r in repeats]
            ms = {k: 1e3 * statistics.median(r[k] for r in repeats) for k in ISOLATIONS}
            print(f"{workload:<12}{framework:<10}{ms['in-process']:>15.2f}{ms['separate-process']:>13.2f}"
                  f"  {statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}]")
            results.append({"workload": workload, "framework": framework, "repeats": repeats})
    if args.out:
        args.out.write_text(json.dumps({"host": calibration.host_id(),  # name, CPU model and flags
                                        "steps": args.steps, "warmup": args.warmup,
                                        "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
