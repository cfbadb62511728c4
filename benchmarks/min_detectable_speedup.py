"""The minimum detectable speedup per workload and framework: the smallest speedup that a
comparison of 3 studies resolves at 95%, from the run-to-run spread of the reference baseline.

Runs the reference baseline (`--submission`, search-space point `--trial`, default NAdamW point
0) with `--seeds` seeds (study i has seed i) per workload and framework, each in a fresh process
through `algobench run`, into one results tree `--out`; a trial that already ended there is
reused, so an interrupted run continues where it stopped (run it in chunks with `--workloads` and
`--frameworks`). Then, per pair, from the trials' times to target T:

- `spread_cv`: std(T) / mean(T) (sample standard deviation);
- `min_detectable_speedup`: exp(z * sqrt(2 * v3) * s), where s is the sample standard deviation of
  log T, v3 = 0.4487 the variance of the median of 3 standard normal draws, z = 1.96. The score
  compares workloads by the median of 3 studies, so two submissions with equal speed differ in
  log(median of 3) with standard deviation sqrt(2 * v3) * s; a speedup below this is within the
  5% two-sided band of that difference (docs/scoring.md#measurement-resolution).

Prints a table and writes `--noise-json` (scoring/noise.json, read by scoring), keeping the pairs
it does not cover. `--eval-schedule algoperf` runs the trials under AlgoPerf's eval schedule
(every split at every eval, an eval every budget/30, no snapshots: the "before" rows of
docs/scoring.md's table); `--repo` runs another checkout's `algobench run`; `--no-run` only
summarizes what `--out` holds.

    .venv/bin/python benchmarks/min_detectable_speedup.py --workloads cnn --out results/noise
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

from scipy import integrate, stats

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from harness.logs import CorruptLogError, find_trial_folders, read_trial  # noqa: E402

from workloads.registry import BASE_WORKLOADS  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402
STUDIES = 3
Z = stats.norm.ppf(0.975)


def variance_of_median_of_3() -> float:
    """Var of the median of 3 iid N(0, 1) draws: the integral of x^2 times its density
    6 phi(x) Phi(x) (1 - Phi(x)) (scipy's quadrature; 0.4487)."""
    density = lambda x: 6 * stats.norm.pdf(x) * stats.norm.cdf(x) * stats.norm.sf(x)  # noqa: E731
    return integrate.quad(lambda x: x * x * density(x), -math.inf, math.inf)[0]


def min_detectable_speedup(times: list[float]) -> float | None:
    """exp(z sqrt(2 v3) s) for the sample standard deviation s of log(times); None under 2 times."""
    if len(times) < 2:
        return None
    s = statistics.stdev(math.log(t) for t in times)
    return math.exp(Z * math.sqrt(2 * variance_of_median_of_3()) * s)


def run_trials(args) -> None:
    for seed in range(args.seeds):
        for workload in args.workloads:
            for framework in (args.frameworks if seed % 2 == 0 else args.frameworks[::-1]):
                command = [sys.executable, "-m", "algobench.cli", "run",
                           str(Path(args.submission).resolve()), "--workload", workload,
                           "--framework", framework, "--out", str(Path(args.out).resolve()),
                           "--study", str(seed), "--trial", str(args.trial), "--no-keep-checkpoint"]
                if args.threads:
                    command += ["--threads", str(args.threads)]
                if args.eval_schedule:
                    command += ["--eval-schedule", args.eval_schedule]
                done = subprocess.run(command, cwd=args.repo, capture_output=True, text=True)
                status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[-300:]}"
                print(f"seed {seed} {workload} {framework}: {status}", flush=True)


def validation_eval_sec(rows: list[dict], validation: str, test: str) -> float | None:
    """What one eval of the validation split alone cost: the median growth of the eval account
    from one eval to the next where the later measured the validation split and not the test
    split (before the target; the snapshots kept in between included), the first eval left out
    (JAX's eval function compiled or loaded there). None without two such evals."""
    measured = lambda r, k: r.get(k) is not None and not math.isnan(r[k])  # noqa: E731
    evals = [r for r in rows if not r.get("snapshot")]
    growth = [b["accumulated_eval_time"] - a["accumulated_eval_time"] for a, b in zip(evals, evals[1:])
              if measured(b, validation) and not measured(b, test)]
    return statistics.median(growth) if growth else None


def trial_facts(trial: dict) -> dict:
    """What the tables need of one trial: its time to target, the evals up to it, the gap to the
    evaluation point before the one that met the target (the resolution it was read at), the eval
    share of its wall time, and its host."""
    meta, rows = trial["meta"], sorted(trial["evals"], key=lambda r: r["global_step"])
    key, target = f"validation/{meta['target_metric']}", meta["validation_target"]
    meets = lambda v: v is not None and not math.isnan(v) and (  # noqa: E731
        v <= target if meta["lower_is_better"] else v >= target)
    first = next((i for i, r in enumerate(rows) if meets(r.get(key))), None)
    final = meta.get("final") or {}
    facts = {"submission": meta.get("submission"), "workload": meta["workload"],
             "framework": meta["framework"], "study": meta["study"],
             "time_to_target": None, "evals_to_target": None, "resolution_sec": None,
             "eval_period_sec": meta.get("eval_period_sec"), "validation_target": target,
             "eval_schedule": (meta.get("spec_overrides") or {}).get("eval_schedule", "snapshots"),
             # the first eval's cost (JAX: its eval forward compiled, or loaded from the cache); a
             # snapshot row before it holds the eval account of its own, earlier time
             "first_eval_sec": next((r["accumulated_eval_time"] for r in rows if not r.get("snapshot")), None),
             "validation_eval_sec": validation_eval_sec(rows, key, f"test/{meta['target_metric']}"),
             "eval_share": (final["accumulated_eval_time"] / final["total_duration"]
                            if final.get("total_duration") else None),
             # the host's speed record (docs/scoring.md#the-host-speed-record): its seconds
             "calibration_sec": (meta.get("calibration") or {}).get("seconds"),
             "host_id": (meta.get("calibration") or {}).get("host_id")
             or meta.get("hardware", {}).get("cpu_id")}
    if first is not None and meta.get("status") == "completed":
        detected = next(i for i in range(first, len(rows)) if not rows[i].get("snapshot"))
        facts["time_to_target"] = rows[first]["score"]
        facts["evals_to_target"] = sum(1 for r in rows[:detected + 1] if not r.get("snapshot"))
        facts["resolution_sec"] = rows[first]["score"] - (rows[first - 1]["score"] if first else 0.0)
    return facts


def read_facts(out: Path | str, submission: str) -> list[dict]:
    """The facts of `submission`'s trials in the results tree `out`, or in a record that
    `--facts-json` wrote (a .json file: what the docs' tables are regenerated from)."""
    if Path(out).is_file():
        return [f for f in json.loads(Path(out).read_text())["trials"]
                if f.get("submission") == Path(submission).name]
    facts = []
    for folder in find_trial_folders(out):
        try:
            trial = read_trial(folder)
        except CorruptLogError as error:
            print(f"skipped {folder}: {error}", file=sys.stderr)
            continue
        if trial["meta"].get("submission") == Path(submission).name:
            facts.append(trial_facts(trial))
    return facts


def summarize(facts: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (workload, framework): runs, reached, median time to target, spread, minimum
    detectable speedup, median evals to target, resolution and eval share, host, and the
    validation target the runs were timed to (None where they differ or were not recorded)."""
    summary = {}
    for pair in sorted({(f["workload"], f["framework"]) for f in facts}):
        group = [f for f in facts if (f["workload"], f["framework"]) == pair]
        times = [f["time_to_target"] for f in group if f["time_to_target"] is not None]

        def median(name: str) -> float | None:
            values = [f[name] for f in group if f.get(name) is not None]  # older records lack some
            return statistics.median(values) if values else None

        hosts = Counter(f["host_id"] for f in group)
        targets = {f.get("validation_target") for f in group}
        summary[pair] = {
            "runs": len(group), "reached": len(times),
            "time_to_target": statistics.median(times) if times else None,
            "spread_cv": statistics.stdev(times) / statistics.mean(times) if len(times) > 1 else None,
            "min_detectable_speedup": min_detectable_speedup(times),
            "eval_period_sec": median("eval_period_sec"), "evals_to_target": median("evals_to_target"),
            "resolution_sec": median("resolution_sec"), "eval_share": median("eval_share"),
            "validation_eval_sec": median("validation_eval_sec"),
            "validation_target": targets.pop() if len(targets) == 1 else None,
            "host_id": hosts.most_common(1)[0][0] if len(hosts) == 1 else f"{len(hosts)} hosts"}
    return summary


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def table(summary: dict) -> str:
    lines = ["| workload | framework | runs (reached) | median time to target, s | spread (CV) | "
             "min. detectable speedup |", "|---|---|---|---|---|---|"]
    for (workload, framework), s in summary.items():
        ttt = "-" if s["time_to_target"] is None else f"{s['time_to_target']:.1f}"
        mds = "-" if s["min_detectable_speedup"] is None else f"{s['min_detectable_speedup']:.3f}x"
        lines.append(f"| `{workload}` | {framework} | {s['runs']} ({s['reached']}) | {ttt} | "
                     f"{percent(s['spread_cv'])} | {mds} |")
    return "\n".join(lines)


def write_noise(summary: dict, path: Path) -> dict:
    """scoring/noise.json: {workload: {framework: {runs, spread_cv, min_detectable_speedup,
    host_id}}}, for the pairs with at least two runs that reached the target."""
    noise = json.loads(path.read_text()) if path.exists() else {}
    for (workload, framework), s in summary.items():
        if s["min_detectable_speedup"] is None:
            continue
        noise.setdefault(workload, {})[framework] = {
            "runs": s["reached"], "spread_cv": s["spread_cv"],
            "min_detectable_speedup": s["min_detectable_speedup"], "host_id": s["host_id"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(noise, indent=1, sort_keys=True) + "\n")
    return noise


def write_facts(facts: list[dict], path: Path) -> None:
    """Record the trials' facts (kept in git, unlike the results tree), merged with the trials
    already recorded there, one per submission, workload, framework and study."""
    key = lambda f: (f.get("submission") or "", f["workload"], f["framework"], f["study"])  # noqa: E731
    old = json.loads(path.read_text())["trials"] if path.exists() else []
    merged = {key(f): f for f in old} | {key(f): f for f in facts}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"trials": [merged[k] for k in sorted(merged)]}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--seeds", type=int, default=5, help="runs per pair (default 5, at least 5 "
                                                             "for scoring/noise.json)")
    parser.add_argument("--submission", default=str(REPO / "submissions" / "nadamw"))
    parser.add_argument("--trial", type=int, default=0, help="search-space point (default 0)")
    parser.add_argument("--threads", type=int, help="CPU cores per run (default: all)")
    parser.add_argument("--out", default="results/noise", help="results tree, reused (default "
                                                               "results/noise)")
    parser.add_argument("--repo", default=str(REPO), help="the checkout whose `algobench run` runs")
    parser.add_argument("--eval-schedule", help="`algobench run --eval-schedule` (`algoperf`: the "
                        "\"before\" rows of docs/scoring.md's table, measured with this checkout)")
    parser.add_argument("--noise-json", help="where to write the figures (default "
                        "scoring/noise.json; with --eval-schedule, nowhere unless named)")
    parser.add_argument("--facts-json", help="also record every trial's facts here (for "
                                             "resolution_table.py without the results tree)")
    parser.add_argument("--no-run", action="store_true", help="only summarize --out")
    args = parser.parse_args()
    if not args.no_run:
        run_trials(args)
    facts = [f for f in read_facts(args.out, args.submission)
             if f["workload"] in args.workloads and f["framework"] in args.frameworks]
    if not facts:
        sys.exit(f"{args.out}: no trials of {Path(args.submission).name}; run without --no-run")
    if args.facts_json:
        write_facts(facts, Path(args.facts_json))
        print(f"wrote {args.facts_json}")
    summary = summarize(facts)
    print(table(summary))
    few = [f"{w} {f}" for (w, f), s in summary.items() if s["reached"] < 5]
    if few:
        print(f"fewer than 5 runs reached the target (not enough for the rules): {', '.join(few)}")
    noise_json = args.noise_json or (None if args.eval_schedule else REPO / "scoring" / "noise.json")
    if noise_json:
        write_noise(summary, Path(noise_json))
        print(f"wrote {noise_json}")


if __name__ == "__main__":
    main()
