"""How well the host calibration predicts speed: the same trials on two hosts (or two days'
hosts), the ratio their calibrations predict against the ratios measured.

The calibration measures how fast a core of the host is (harness/calibration.py), so the pairs it
must predict are the same trials, at the same core count, on hosts of different speed: a run of
this script records its trials under `--out/LABEL` (LABEL names the host and the day: `--label`,
by default the host's CPU and the date), and on a later day or another machine a second run adds
a second label. Each run runs the reference baseline (NAdamW point 0) with `--seeds` seeds per
workload and framework, each trial in a fresh process through `algobench run` (a trial that
already ended there is reused, so the script resumes). `--pair A B` then compares, per (workload,
framework, seed), with c the calibration seconds of each trial (meta.json `calibration.seconds`):

- predicted: c_A / c_B, the speed factor between the two hosts;
- measured: the ratio of submission seconds per step, and the ratio of times to target;
- error: predicted / measured - 1, for each.

`score --normalize` divides a trial's time by its speed factor; its error on a pair of trials is
this error. Prints every row and the median and largest absolute error. Two runs on one host
(two labels) measure the error that the host's own wander leaves.

`--anchor NAME` measures compare mode's other way instead (scoring.hosts.host_factors): the
predicted ratio of a (workload, framework) is the median seconds per step of submission NAME's
trials under A over those under B, and the pairs are the trials of every other submission that
both labels hold (NAME's own would predict themselves). Labels may be any folders of trials under
--out, leaderboard folders included (`--out . --pair reference_results docs/data/pilot`).

    .venv/bin/python benchmarks/normalization_error.py --workloads cnn lm --out results/normalization
    .venv/bin/python benchmarks/normalization_error.py --out results/normalization --pair LABEL_A LABEL_B

`--write-doc` (with `--pair`) writes the per-workload summary into docs/scoring.md (between its
normalization-table markers), from the two labels' logs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from algobench.doc_sections import write_section  # noqa: E402
from harness.logs import find_trial_folders, read_trial  # noqa: E402

from workloads.registry import BASE_WORKLOADS  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402


def default_label() -> str:
    """The host's CPU and family/model and today's date, as a folder name."""
    from harness.provenance import cpu_info

    cpu = cpu_info()
    text = f"{cpu['cpu']} {cpu['cpu_id']} {time.strftime('%Y-%m-%d')}"
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def run_trials(args, out: Path) -> None:
    for seed in range(args.seeds):
        for workload in args.workloads:
            for framework in args.frameworks:
                command = [sys.executable, "-m", "algobench.cli", "run",
                           str(REPO / "submissions" / "nadamw"), "--workload", workload,
                           "--framework", framework, "--out", str(out), "--study", str(seed),
                           "--trial", "0", "--no-keep-checkpoint"]
                if args.threads:
                    command += ["--threads", str(args.threads)]
                done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
                status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[-300:]}"
                print(f"{out.name}: seed {seed} {workload} {framework}: {status}", flush=True)


def trials_of(folder: Path) -> dict[tuple, dict]:
    """(workload, framework, study, cores, submission) -> meta.json of the ended, calibrated
    trials under `folder`."""
    found = {}
    for trial_folder in find_trial_folders(folder):
        meta = read_trial(trial_folder)["meta"]
        if meta.get("status") == "completed" and meta.get("calibration"):
            key = meta["workload"], meta["framework"], meta["study"], meta.get("cores_used"), meta["submission"]
            found[key] = meta
    return found


def seconds_per_step(meta: dict) -> float:
    return meta["final"]["accumulated_submission_time"] / max(1, meta["final"]["global_step"])


def anchor_ratios(a: Path, b: Path, anchor: str) -> dict[tuple, float]:
    """(workload, framework) -> compare mode's host factor of the trials under `a` against those
    under `b` by `anchor`'s seconds per step (scoring.hosts.host_factors itself, so that the error
    measured is that of the factor compare mode uses), where both ran it."""
    from scoring.hosts import host_factors
    from scoring.tables import load_results

    factors = host_factors(load_results([b]).trials, load_results([a]).trials, anchor)
    return {(f.workload, f.framework): f.host_factor
            for f in factors.itertuples(index=False) if f.normalization == "anchor"}


def compare(a: dict, b: dict, predicted: float | None = None) -> dict:
    """Predicted and measured ratios of trial `a` to trial `b`, and the errors; `predicted` by
    the trials' calibrations unless given."""
    if predicted is None:
        predicted = a["calibration"]["seconds"] / b["calibration"]["seconds"]
    step_ratio = seconds_per_step(a) / seconds_per_step(b)
    ta, tb = a["final"]["time_to_target"], b["final"]["time_to_target"]
    ttt_ratio = ta / tb if ta and tb else None
    return {"predicted": predicted, "step_ratio": step_ratio, "ttt_ratio": ttt_ratio,
            "step_error": predicted / step_ratio - 1,
            "ttt_error": predicted / ttt_ratio - 1 if ttt_ratio else None}


DOC = REPO / "docs" / "scoring.md"
DOC_MARKERS = {"calibration": ("<!-- normalization table: start -->", "<!-- normalization table: end -->"),
               "anchor": ("<!-- normalization table, anchor: start -->",
                          "<!-- normalization table, anchor: end -->")}


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per error kind (`step_error`, `ttt_error`): the median and largest |error| over the pairs
    that have it, and how many do."""
    summaries = {}
    for name in ("step_error", "ttt_error"):
        errors = [abs(r[name]) for r in rows if r[name] is not None]
        if errors:
            summaries[name] = {"median_abs_error": statistics.median(errors),
                               "max_abs_error": max(errors), "trials": len(errors)}
    return summaries


def doc_table(labels: tuple[str, str], pairs: list[tuple[tuple, dict, dict, dict]],
              method: str = "calibration") -> str:
    """Per workload and framework: the predicted ratio and the measured ones (median [min, max]
    over the pairs of trials) and the error of the medians; then every pair's median and largest |error|
    (`summarize`)."""
    def host(meta):
        return meta["calibration"]["host_id"].split(" | ")[1:3]

    first, second = pairs[0][1], pairs[0][2]
    lines = [f"`{labels[0]}` ({' '.join(host(first))}) against `{labels[1]}` ({' '.join(host(second))}), "
             "ratios of the first to the second:", "",
             f"| workload | framework | pairs | predicted ({method}) | measured s/step, median [min, max] "
             "| error | measured time to target | error |", "|---|---|---|---|---|---|---|---|"]

    def spread(values):
        return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"

    groups: dict[tuple, list[dict]] = {}
    for key, _, _, row in pairs:
        groups.setdefault(key[:2], []).append(row)
    for (workload, framework), rows in sorted(groups.items()):
        predicted = statistics.median(r["predicted"] for r in rows)
        step = [r["step_ratio"] for r in rows]
        ttt = [r["ttt_ratio"] for r in rows if r["ttt_ratio"] is not None]
        ttt_cells = (f"{spread(ttt)} | {predicted / statistics.median(ttt) - 1:+.1%}" if ttt else "- | -")
        lines.append(f"| `{workload}` | {framework} | {len(rows)} | {predicted:.3f} | {spread(step)} | "
                     f"{predicted / statistics.median(step) - 1:+.1%} | {ttt_cells} |")
    summaries = summarize([row for *_, row in pairs])
    for name, what in (("step_error", "seconds per step"), ("ttt_error", "time to target")):
        if name in summaries:
            summary = summaries[name]
            lines.append(f"\nOver the {summary['trials']} pairs of trials, {what}: median |error| "
                         f"{summary['median_abs_error']:.1%}, largest {summary['max_abs_error']:.1%}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", help="default: the base workloads (with --pair: all)")
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--threads", type=int, help="cores per trial (default: all, as a trial)")
    parser.add_argument("--seeds", type=int, default=2, help="trials per workload and framework (default 2)")
    parser.add_argument("--out", default="results/normalization")
    parser.add_argument("--label", help="this run's folder under --out (default: CPU, model, date)")
    parser.add_argument("--pair", nargs=2, metavar=("LABEL_A", "LABEL_B"),
                        help="compare the trials of two labels under --out (runs nothing)")
    parser.add_argument("--submissions", nargs="+", help="with --pair: only these submissions' trials")
    parser.add_argument("--anchor", metavar="NAME", help="with --pair: predict by submission NAME's "
                        "seconds per step (compare mode's host factor), not by the calibration")
    parser.add_argument("--record", help="with --pair: write the time-to-target error to this JSON "
                        "file, under the method's name (e.g. scoring/normalization.json, which "
                        "`algobench leaderboard --compare` states)")
    parser.add_argument("--write-doc", action="store_true",
                        help="with --pair: write the per-workload table into docs/scoring.md")
    args = parser.parse_args()
    if not args.pair:
        args.workloads = args.workloads or list(BASE_WORKLOADS)
        label = args.label or default_label()
        run_trials(args, Path(args.out).resolve() / label)
        labels = sorted(p.name for p in Path(args.out).iterdir() if p.is_dir())
        print(f"recorded under {Path(args.out) / label}; labels there: {', '.join(labels)}; "
              "compare two with --pair")
        return
    a_label, b_label = args.pair
    first, second = (trials_of(Path(args.out) / label) for label in args.pair)
    anchors = anchor_ratios(*(Path(args.out) / label for label in args.pair), args.anchor) if args.anchor else {}
    keys = sorted(k for k in first.keys() & second.keys()
                  if (not args.workloads or k[0] in args.workloads) and k[1] in args.frameworks
                  and (not args.submissions or k[4] in args.submissions)
                  and (not args.anchor or (k[4] != args.anchor and k[:2] in anchors)))
    if not keys:
        sys.exit(f"{args.out}: no pair of calibrated trials (same submission, workload, framework, "
                 f"seed and threads) under {a_label} and {b_label}"
                 + (f" beside {args.anchor}'s on both" if args.anchor else "") + "; run each label first")
    method = f"{args.anchor}'s s/step" if args.anchor else "calibration"
    print(f"ratios of {a_label} to {b_label}; error = predicted / measured - 1")
    print(f"| submission | workload | framework | seed | threads | predicted ({method}) | measured s/step | "
          "error | measured time to target | error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    pairs = []
    for key in keys:
        row = compare(first[key], second[key], anchors.get(key[:2]))
        pairs.append((key, first[key], second[key], row))
        ttt = "-" if row["ttt_ratio"] is None else f"{row['ttt_ratio']:.3f}"
        ttt_error = "-" if row["ttt_error"] is None else f"{row['ttt_error']:+.1%}"
        print(f"| {key[4]} | `{key[0]}` | {key[1]} | {key[2]} | {key[3]} | {row['predicted']:.3f} | "
              f"{row['step_ratio']:.3f} | {row['step_error']:+.1%} | {ttt} | {ttt_error} |")
    summaries = summarize([row for *_, row in pairs])
    for name, summary in summaries.items():
        print(f"{name}: median |error| {summary['median_abs_error']:.1%}, largest "
              f"{summary['max_abs_error']:.1%} ({summary['trials']} pairs)")
    if args.write_doc:
        body = doc_table((a_label, b_label), pairs, method)
        if args.anchor:  # the same pairs as the calibration predicts them, first, to compare
            by_calibration = [(k, a, b, compare(a, b)) for k, a, b, _ in pairs]
            body = doc_table((a_label, b_label), by_calibration) + "\n\n" + body
        write_section(DOC, body, *DOC_MARKERS["anchor" if args.anchor else "calibration"])
        print(f"wrote the table in {DOC}")
    if args.record and "ttt_error" in summaries:
        path = Path(args.record)
        records = json.loads(path.read_text()) if path.exists() else {}
        records["anchor" if args.anchor else "calibration"] = {
            "what": "time to target", **summaries["ttt_error"], "configurations": (
                f"{a_label} against {b_label}"
                + (f", predicted by {args.anchor}'s seconds per step, its own trials left out" if args.anchor else "")
                + f", {', '.join(sorted({k[0] for k in keys}))}")}
        path.write_text(json.dumps(records, indent=1) + "\n")
        print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
