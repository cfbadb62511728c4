"""Times the one-node Slurm cluster of scripts/slurm_cluster.sh: how long it takes to start, and one
`tune` plan run once as a Slurm job array and once by the local executor, side by side.

    .venv/bin/python scripts/slurm_cluster_timing.py [--trials 4] [--parallel 2]

Runs as root with Slurm installed (`scripts/slurm_cluster.sh install`). The plan is the NAdamW
baseline on `smoke` (JAX), 1 study x TRIALS trials, PARALLEL trials at a time on one core each
(Slurm: an array of TRIALS tasks, `--parallel` its parallelism, `--threads 1`; local:
`--parallel PARALLEL --threads 1`). The cluster uses its own ports (ALGOBENCH_SLURM_PORT, default
16917) and folder, so tests can run beside it. Prints the figures; a busy machine inflates both
wall times, so compare them only from one run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm_cluster.sh"


def timed(command: list[str], env: dict) -> tuple[float, str]:
    begin = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - begin
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def outcomes(out: Path) -> list[tuple]:
    """Per trial: (trial, status, stop reason, final step)."""
    rows = []
    for meta_path in sorted(out.glob("*/*/*/*/study_*/trial_*/meta.json")):
        meta = json.loads(meta_path.read_text())
        rows.append((meta["trial"], meta["status"], meta["stop_reason"],
                     (meta.get("final") or {}).get("global_step")))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "ALGOBENCH_SLURM_PORT": os.environ.get("ALGOBENCH_SLURM_PORT", "16917")}
    with tempfile.TemporaryDirectory(prefix="algobench-slurm-timing-") as tmp:
        cluster = Path(tmp) / "cluster"
        start_s, printed = timed(["bash", str(SCRIPT), "start", str(cluster)], env)
        env["SLURM_CONF"] = str(cluster / "slurm.conf")
        try:
            tune = [sys.executable, "-m", "algobench.cli", "tune", "submissions/nadamw",
                    "--workloads", "smoke", "--framework", "jax", "--studies", "1",
                    "--trials", str(args.trials), "--parallel", str(args.parallel),
                    "--threads", "1"]
            slurm_s, _ = timed([*tune, "--executor", "slurm", "--out", f"{tmp}/slurm"], env)
            local_s, _ = timed([*tune, "--executor", "local", "--out", f"{tmp}/local"], env)
            accounting = subprocess.run(
                ["sacct", "-X", "--parsable2", "-n", "-o", "JobID,State"], env=env,
                capture_output=True, text=True).stdout.split()
        finally:
            subprocess.run(["bash", str(SCRIPT), "stop", str(cluster)], env=env,
                           capture_output=True)
        on_slurm, local = outcomes(Path(tmp, "slurm")), outcomes(Path(tmp, "local"))
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end "
          "(a busy machine inflates every figure below)")
    print(printed.strip().splitlines()[-2])
    print(f"cluster start: {start_s:.1f} s")
    print(f"plan: nadamw on smoke (jax), 1 study x {args.trials} trials, {args.parallel} at a "
          f"time, 1 core each")
    print(f"  slurm job array: {slurm_s:6.1f} s wall  ({', '.join(accounting)})")
    print(f"  local executor:  {local_s:6.1f} s wall")
    print(f"  slurm / local:   {slurm_s / local_s:6.2f}")
    same = [r[:3] for r in on_slurm] == [r[:3] for r in local]
    print(f"  same trials, statuses and stop reasons: {same} (the step of the eval that met the "
          "target follows the clock)")
    for s, l in zip(on_slurm, local):
        print(f"    trial {s[0]}: slurm {s[1]} ({s[2]}) at step {s[3]}; "
              f"local {l[1]} ({l[2]}) at step {l[3]}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
