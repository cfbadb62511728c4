"""`algobench audit PLAN_DIR`: re-run a sample of a plan's finished trials and flag those whose
curves do not match their logs (docs/integrity.md#audit).

A digest chain proves that the harness holding the plan's key wrote a log; it cannot prove that
the numbers in it are what the submission's training computes (a modified harness, a key that
leaked, a submission that behaves differently when it is watched). The audit re-runs trials from
what their logs record (hyperparameters, seed, submission code, workload), each in a process of
its own and into a temporary folder, with evaluations at exactly the steps the trial evaluated
(`TrialRunner(eval_steps=...)`), and compares the validation metric at every recorded eval step:

    |re-run - recorded| <= tolerance * max(1, |recorded|)

The default tolerance, `DEFAULT_TOLERANCE` (0.01: one point of accuracy, 1% of a loss above 1),
is a documented choice, not a measurement: scoring/noise.json records the run-to-run spread of
*times* to target across seeds, which says nothing about how far one seed's metric can drift
between two runs. A same-seed re-run on one host reproduces the metric exactly on the CPU; on
another host or a GPU it drifts by rounding. Each audited trial's largest deviation is printed,
so auditing honest trials measures that drift; `--tolerance` sets another value.

A trial whose log fails verification (harness/integrity.py) is reported as such and not re-run. A
re-run that stops before the last recorded step (its budget ran out on a slower host) compares
the steps it reached and says so. Snapshot rows (docs/scoring.md#measurement-resolution) are
checked by the digest chain only: the audit compares the curve at the trial's evaluations.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness import integrity
from harness.logs import META_FILE, CorruptLogError, read_eval_rows, read_json

DEFAULT_TOLERANCE = 0.01
DEFAULT_SAMPLE = 3
FINISHED = ("completed", "diverged")
RERUN_TIMEOUT_S = 3 * 3600


@dataclass
class AuditResult:
    folder: str
    verdict: str  # "match", "mismatch", "rejected" (its log does not verify), "error"
    detail: str = ""
    max_deviation: float = math.nan
    mismatched_steps: list[int] = field(default_factory=list)

    def line(self) -> str:
        deviation = (f", largest deviation {self.max_deviation:.3g}"
                     if math.isfinite(self.max_deviation) else "")
        return f"{self.verdict:9s} {self.folder}{deviation}{': ' + self.detail if self.detail else ''}"


def recorded_curve(folder: Path, metric: str) -> dict[int, float]:
    """{global_step: validation metric} of a trial's evaluations (snapshot rows left out)."""
    rows = read_eval_rows(folder / "eval_measurements.csv")
    return {int(r["global_step"]): float(r[f"validation/{metric}"]) for r in rows
            if not r.get("snapshot") and r.get(f"validation/{metric}") is not None}


def compare(recorded: dict[int, float], rerun: dict[int, float],
            tolerance: float) -> tuple[list[int], float, list[int]]:
    """(steps whose values differ beyond the tolerance, the largest deviation, recorded steps the
    re-run never reached)."""
    mismatched, largest, unreached = [], 0.0, []
    for step, value in sorted(recorded.items()):
        if step not in rerun:
            unreached.append(step)
            continue
        deviation = abs(rerun[step] - value)
        if not math.isfinite(deviation):
            deviation = 0.0 if (math.isnan(rerun[step]) and math.isnan(value)) else math.inf
        largest = max(largest, deviation)
        if deviation > tolerance * max(1.0, abs(value)):
            mismatched.append(step)
    return mismatched, largest, unreached


def sample_trials(plan_dir: Path, sample: int | None, seed: int) -> list[Path]:
    """`sample` of the plan's finished trials (all with None), drawn with `seed`, in plan order."""
    plan = read_json(plan_dir / "plan.json")
    folders = [plan_dir / e["folder"] for e in plan.get("trials") or []]
    finished = []
    for folder in folders:
        try:
            if read_json(folder / META_FILE).get("status") in FINISHED:
                finished.append(folder)
        except CorruptLogError:
            continue
    if sample is None or sample >= len(finished):
        return finished
    chosen = set(random.Random(seed).sample(range(len(finished)), sample))
    return [f for i, f in enumerate(finished) if i in chosen]


def audit_trial(folder: Path, tolerance: float = DEFAULT_TOLERANCE,
                work_dir: Path | None = None) -> AuditResult:
    """Verify a trial's log, re-run it in a process of its own into a temporary folder (under
    `work_dir`, default the system's), and compare the curves (module docstring)."""
    verdict = integrity.verify_trial(folder)
    if verdict.status == integrity.REJECTED:
        return AuditResult(str(folder), "rejected", verdict.reason)
    meta = read_json(folder / META_FILE)
    metric = str(meta["target_metric"])
    recorded = recorded_curve(folder, metric)
    if not recorded:
        return AuditResult(str(folder), "error", "no evaluations to compare")
    with tempfile.TemporaryDirectory(prefix="algobench-audit-", dir=work_dir) as tmp:
        args = {"folder": str(folder), "out": tmp, "eval_steps": sorted(recorded)}
        done = subprocess.run([sys.executable, "-m", "algobench.audit", json.dumps(args)],
                              capture_output=True, text=True, timeout=RERUN_TIMEOUT_S)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return AuditResult(str(folder), "error", f"the re-run failed: {last}")
        rerun_folder = Path(done.stdout.strip().splitlines()[-1])
        rerun = recorded_curve(rerun_folder, metric)
    mismatched, largest, unreached = compare(recorded, rerun, tolerance)
    notes = []
    if mismatched:
        shown = ", ".join(f"step {s}: logged {recorded[s]:.4g}, re-run {rerun[s]:.4g}"
                          for s in mismatched[:3])
        notes.append(f"validation {metric} differs beyond tolerance {tolerance:g} at "
                     f"{len(mismatched)} of {len(recorded)} evals ({shown})")
    if unreached:
        notes.append(f"the re-run stopped before step {unreached[0]} ({len(unreached)} evals not compared)")
    if verdict.status == integrity.UNVERIFIED:
        notes.append(verdict.reason)
    return AuditResult(str(folder), "mismatch" if mismatched else "match", "; ".join(notes),
                       largest, mismatched)


def audit_plan(plan_dir: Path | str, sample: int | None = DEFAULT_SAMPLE, seed: int = 0,
               tolerance: float = DEFAULT_TOLERANCE, stream=None) -> list[AuditResult]:
    plan_dir = Path(plan_dir)
    stream = stream or sys.stdout
    results = []
    for folder in sample_trials(plan_dir, sample, seed):
        result = audit_trial(folder, tolerance)
        print(result.line(), file=stream, flush=True)
        results.append(result)
    return results


def _rerun(args: dict) -> Path:
    """In a process of its own: train the trial in `args['folder']` again from its logs into
    `args['out']`, evaluating at `args['eval_steps']`; return the new trial folder."""
    import dataclasses

    from harness import backends, loader
    from harness.task import TrialTask

    folder = Path(args["folder"])
    meta, hparams = read_json(folder / META_FILE), read_json(folder / "hparams.json")
    base_seed = meta.get("base_seed")
    if base_seed is None:  # logs from before meta.json recorded it: the plan's, six folders up
        base_seed = read_json(folder.parents[5] / "plan.json")["base_seed"]
    cores = backends.pin_cores((meta.get("hardware") or {}).get("cores_used"))
    backend = backends.load_backend(meta["framework"])
    backend.configure_threads(len(cores))
    from harness.runner import TrialRunner  # imports the data layer; after pinning

    steps = tuple(args["eval_steps"])
    task = TrialTask(meta["submission_dir"], meta["workload"], meta["framework"], meta["ruleset"],
                     meta["study"], meta["trial"], int(base_seed), hparams, args["out"],
                     keep_checkpoint=False, spec_overrides=meta.get("spec_overrides") or {})
    if task.seed != meta["seed"]:
        raise SystemExit(f"{folder}: its seed {meta['seed']} is not the plan's for this trial "
                         f"({task.seed}); the log cannot be re-run as recorded")
    spec = dataclasses.replace(task.spec(), max_steps=max(steps))
    module = loader.load_submission(meta["submission_dir"], meta["framework"])
    TrialRunner(task, spec, module, backend, time_fn=backend.time_fn(), calibrate=False,
                eval_steps=steps).run()
    return task.folder


def register(sub) -> None:
    """The `audit` subcommand (algobench/cli.py)."""
    audit = sub.add_parser("audit", help="re-run a sample of a plan's trials and flag curves that "
                                         "do not match their logs")
    audit.add_argument("plan_dir", metavar="PLAN_DIR", help="the --out folder of `algobench tune`")
    audit.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                       help=f"how many finished trials to re-run (default {DEFAULT_SAMPLE})")
    audit.add_argument("--seed", type=int, default=0, help="seed of the sample's draw")
    audit.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                       help=f"allowed |re-run - logged| per eval, times max(1, |logged|) "
                            f"(default {DEFAULT_TOLERANCE}; docs/integrity.md#audit)")
    audit.set_defaults(func=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    """Exit code 0 when every audited trial matches, 1 when one does not (or could not be
    re-run), 2 on bad input."""
    plan_dir = Path(args.plan_dir)
    if not (plan_dir / "plan.json").is_file():
        print(f"algobench audit: error: {plan_dir}: no plan.json; pass the --out folder of "
              "`algobench tune`", file=sys.stderr)
        return 2
    if args.sample < 1 or not args.tolerance >= 0:
        print("algobench audit: error: --sample must be at least 1 and --tolerance at least 0",
              file=sys.stderr)
        return 2
    try:
        results = audit_plan(plan_dir, args.sample, args.seed, args.tolerance)
    except CorruptLogError as err:
        print(f"algobench audit: error: {err}", file=sys.stderr)
        return 2
    bad = [r for r in results if r.verdict != "match"]
    print(f"audited {len(results)} trial{'s' if len(results) != 1 else ''} of {plan_dir}: "
          f"{len(results) - len(bad)} match, {len(bad)} flagged")
    return 1 if bad else 0


if __name__ == "__main__":  # the re-run process of `audit_trial`
    print(_rerun(json.loads(sys.argv[1])))
