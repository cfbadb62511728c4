"""Write docs/performance.md's harness-overhead table from the recorded JSON of
benchmarks/harness_overhead.py runs (one file per run, e.g. before and after a change), so the
table cannot drift from the measurement.

    .venv/bin/python benchmarks/harness_overhead_table.py docs/data/harness_overhead_before.json \
        docs/data/harness_overhead.json --write
    .venv/bin/python benchmarks/harness_overhead_table.py --check   # the recorded runs (RECORDED)
    .venv/bin/python benchmarks/harness_overhead_table.py --section gpu \
        docs/data/gpu_stop36/harness_overhead_unet.json --write   # benchmarks/gpu_overhead.sh's
    .venv/bin/python benchmarks/harness_overhead_table.py --section jax-pytorch \
        docs/data/harness_overhead_stop43.json --write   # the bare loops' JAX/PyTorch ratio

Each table sits between two marker comments in docs/performance.md (`--section`: the CPU table,
or the GPU one); `--check` exits 1 when the doc differs from what the JSON gives (without files:
the runs the doc shows, `RECORDED`; tests/test_docs_tables.py checks every section in CI). Runs made with
`--compare-sync` or `--compare-steps-per-call` get a column for those runners' ratios. The
`jax-pytorch` section is the JAX/PyTorch ratio of the bare loops of one run, per workload: both
frameworks' loops in the same run, repeat i of one against repeat i of the other.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's scripts
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # and the repository's packages

from harness_overhead import OFF_CLOCK, compared_variants, ratio_cell, spread, summary  # noqa: E402

from algobench.doc_sections import write_or_check  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
SECTIONS = {"cpu": "harness overhead table", "gpu": "harness overhead table, gpu",
            "jax-pytorch": "jax against pytorch table"}
RECORDED = {  # the runs each section shows, in table order (docs/performance.md says what each is)
    "cpu": ["docs/data/harness_overhead_steps_per_call_stop37.json", "docs/data/harness_overhead_stop39.json",
            "docs/data/harness_overhead_stop40.json", "docs/data/harness_overhead_stop43.json",
            "docs/data/harness_overhead_stop49.json"],
    "jax-pytorch": ["docs/data/harness_overhead_stop39.json", "docs/data/harness_overhead_stop43.json",
                    "docs/data/harness_overhead_stop49.json"],
    "gpu": ["docs/data/gpu_stop36/harness_overhead_unet.json",
            "docs/data/gpu_stop36/harness_overhead_unet_steps_per_call.json"],
}


def markers(section: str = "cpu") -> tuple[str, str]:
    name = SECTIONS[section]
    return f"<!-- {name}: start -->", f"<!-- {name}: end -->"


START, END = markers("cpu")


def table(records: list[dict]) -> str:
    """One row per run, workload and framework: harness and bare ms/step, their ratio, shares."""
    lines = []
    for record in records:
        device = {str(r.get("device", {}).get("accelerator", "cpu")) for r in record["results"]}
        period = f"eval period {record['eval_period']:g} s, " if record.get("eval_period") else ""
        if record.get("evals_at_steps"):  # since stop 40: the snapshot spacing of a real trial
            snapshots = "snapshots at a tenth of it" if record.get("eval_period") else "each workload's own snapshot period"
            period += f"evals at steps {' and '.join(map(str, record['evals_at_steps']))}, {snapshots}, "
        lines.append(f"- `{record['label']}`: {record['host']}, device {', '.join(sorted(device))}, "
                     f"{record['steps']} steps after {record['warmup']} warm-up steps, {period}"
                     f"{record['repeats']} repeats, commit {record['git_commit']}, {record['started_at']}")
    keyed = [((r["workload"], r["framework"]), i, record["label"], r)
             for i, record in enumerate(records) for r in record["results"]]
    compared = compared_variants([r for *_, r in keyed])  # a column for each any run measured
    extra = "".join(f" harness/bare, {name} |" for _, name in compared)
    lines += ["", f"| workload | framework | run | harness ms/step | bare ms/step | harness/bare | "
              f"harness/bare, batches in the loop |{extra} "
              + " | ".join(f"{a} share" for a in OFF_CLOCK) + " |",
              "|---|---|---|---|---|---|---|" + "---|" * (len(OFF_CLOCK) + len(compared))]
    for (workload, framework), _, label, result in sorted(keyed, key=lambda k: (k[0], k[1])):
        s = summary(result)
        shares = " | ".join(f"{100 * s['shares'][a]:.1f}%" for a in OFF_CLOCK)
        ratios = (spread(s["ratio"], digits=3) + f" | {ratio_cell(s['ratio_in_loop'])}"
                  + "".join(f" | {ratio_cell(s[key])}" for key, _ in compared))
        lines.append(f"| `{workload}` | {framework} | {label} | {spread(s['harness'], 1000)} | "
                     f"{spread(s['bare'], 1000)} | {ratios} | {shares} |")
    return "\n".join(lines)


def jax_pytorch_table(records: list[dict]) -> str:
    """Per run and workload: the bare loops' ms/step in each framework and JAX/PyTorch, median
    [min, max] over the repeats (repeat i against repeat i)."""
    lines = ["| workload | run | PyTorch bare ms/step | JAX bare ms/step | JAX/PyTorch |", "|---|---|---|---|---|"]
    for record in records:
        by_pair = {(r["workload"], r["framework"]): summary(r)["bare"] for r in record["results"]}
        for workload in sorted({w for w, _ in by_pair}):
            torch_times, jax_times = by_pair.get((workload, "pytorch")), by_pair.get((workload, "jax"))
            if not (torch_times and jax_times):
                continue
            ratios = [j / t for j, t in zip(jax_times, torch_times)]
            lines.append(f"| `{workload}` | {record['label']} | {spread(torch_times, 1000)} | "
                         f"{spread(jax_times, 1000)} | {spread(ratios, digits=3)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="*", help="harness_overhead.py --out files, in table order "
                                                "(default: the section's recorded runs)")
    parser.add_argument("--section", choices=sorted(SECTIONS), default="cpu",
                        help="which of the doc's tables (default: cpu)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"replace the table in {DOC.name}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {DOC.name} differs")
    args = parser.parse_args(argv)
    args.json = args.json or [str(REPO / path) for path in RECORDED[args.section]]
    records = []
    for path in args.json:
        try:
            records.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            sys.exit(f"{path}: not a harness_overhead.py JSON ({err}); run benchmarks/harness_overhead.py --out")
    body = jax_pytorch_table(records) if args.section == "jax-pytorch" else table(records)
    if not (args.write or args.check):
        print(body)
        return 0
    return write_or_check(DOC, body, *markers(args.section), write=args.write,
                          what=SECTIONS[args.section], source=" ".join(args.json),
                          fix=f"benchmarks/harness_overhead_table.py --section {args.section} "
                              f"{' '.join(args.json)} --write")


if __name__ == "__main__":
    sys.exit(main())
