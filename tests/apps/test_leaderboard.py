"""`algobench leaderboard` end to end on `smoke` under the `tiny` protocol: the plan and its cost
estimate, resuming after the command is killed, scoring, and compare mode."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from algobench import leaderboard
from harness.study import PlanError, format_duration
from workloads.registry import get_spec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import leaderboard_tables  # noqa: E402  (scripts/ is not a package)

SUBMISSIONS = [str(REPO / "submissions" / name) for name in ("nadamw", "adamw")]


def algobench(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "algobench.cli", "leaderboard", *args], cwd=REPO,
                          capture_output=True, text=True, **kwargs)


def test_scoring_marks_speedups_against_the_recorded_noise(tmp_path, monkeypatch):
    """As `algobench score` does: the leaderboard's boards get scoring/noise.json's records."""
    import scoring.leaderboard
    import scoring.noise

    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"smoke": {"pytorch": {
        "runs": 5, "spread_cv": 0.05, "min_detectable_speedup": 1.1, "host_id": "h"}}}))
    monkeypatch.setattr(scoring.noise, "NOISE_FILE", noise)
    seen = []
    monkeypatch.setattr(scoring.leaderboard, "score_frameworks",
                        lambda results, **options: seen.append(options) or ["board"])
    trials = pd.DataFrame({"ruleset": ["external"], "speed_factor": [None]})
    assert leaderboard.score(type("Results", (), {"trials": trials})()) == ["board"]
    assert seen[0]["noise"][("smoke", "pytorch")].min_detectable_speedup == 1.1
    assert seen[0]["normalize"] is False
    calibrated = pd.DataFrame({"ruleset": ["external"], "speed_factor": [1.3]})
    leaderboard.score(type("Results", (), {"trials": calibrated})())
    assert seen[1]["normalize"] is False  # as measured: each workload's trials share a host
    noise.write_text("{")
    with pytest.raises(scoring.noise.NoiseFileError, match="noise.json"):
        leaderboard.score(type("Results", (), {"trials": trials})())


def test_trials_run_workload_by_workload(tmp_path):
    plan = leaderboard.build(SUBMISSIONS, ["smoke", "cnn"], ["pytorch", "jax"],
                             leaderboard.PROTOCOLS["tiny"], tmp_path, load_modules=False)
    order = [(t.workload, t.study, t.submission, t.framework) for t in plan.tasks]
    assert len(order) == 2 * 2 * 2 * 2
    assert [w for w, *_ in order] == ["smoke"] * 8 + ["cnn"] * 8
    assert order[:4] == [("smoke", 0, "nadamw", "pytorch"), ("smoke", 0, "nadamw", "jax"),
                         ("smoke", 0, "adamw", "pytorch"), ("smoke", 0, "adamw", "jax")]
    assert all(not t.keep_checkpoint for t in plan.tasks)


def test_quick_protocol_runs_the_first_point_in_every_study(tmp_path):
    plan = leaderboard.build(SUBMISSIONS[:1], ["smoke"], ["pytorch"], leaderboard.PROTOCOLS["quick"],
                             tmp_path, load_modules=False)
    first = json.loads((REPO / "submissions/nadamw/tuning_search_space.json").read_text())[0]
    assert [(t.study, t.trial) for t in plan.tasks] == [(0, 0), (1, 0), (2, 0)]
    assert all(t.hyperparameters == first for t in plan.tasks)
    assert len({t.seed for t in plan.tasks}) == 3


def test_dry_run_prints_the_plan_and_its_cost_and_writes_nothing(tmp_path):
    out = tmp_path / "board"
    done = algobench("--protocol", "tiny", "--submissions", "nadamw", "adamw", "--workloads",
                     "smoke", "cnn", "--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "8 trials, protocol tiny" in done.stdout
    assert "pytorch smoke: 4 trials" in done.stdout and "pytorch cnn: 4 trials" in done.stdout
    at_most = 4 * (get_spec("smoke").max_runtime_sec + get_spec("cnn").max_runtime_sec)
    assert f"at most {format_duration(at_most)} if every trial uses its whole budget" in done.stdout
    assert not out.exists()


def test_another_protocol_into_the_same_folder_is_refused(tmp_path):
    # load_modules=False: the refusal is about the folder; importing the submission would only
    # start PyTorch in the test process
    leaderboard.build(SUBMISSIONS[:1], ["smoke"], ["pytorch"], leaderboard.PROTOCOLS["tiny"],
                      tmp_path, load_modules=False).write()
    with pytest.raises(PlanError, match="holds the 'tiny' protocol; use --protocol tiny"):
        leaderboard.build(SUBMISSIONS[:1], ["smoke"], ["pytorch"], leaderboard.PROTOCOLS["quick"],
                          tmp_path, load_modules=False).write()


def wait_for_an_ended_trial(out: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for meta in out.glob("*/*/*/*/study_*/trial_*/meta.json"):
            try:
                if json.loads(meta.read_text()).get("status") == "completed":
                    return
            except ValueError:
                pass
        time.sleep(0.5)
    raise AssertionError("no trial ended in time")


def test_tiny_leaderboard_resumes_after_a_kill_then_scores_and_compares(tmp_path):
    out = tmp_path / "reference"
    args = ["--protocol", "tiny", "--submissions", "nadamw", "adamw", "--workloads", "smoke",
            "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "algobench.cli", "leaderboard", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    wait_for_an_ended_trial(out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    done = algobench(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already completed" in done.stdout  # the trial that ended before the kill
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4 and set(trials["status"]) == {"completed"}
    assert set(trials["protocol"]) == {"tiny"}
    assert (out / "scores" / "external" / "report.html").exists()
    assert "algobench leaderboard: external tuning, pytorch entries" in done.stdout
    recorded = json.loads((out / leaderboard.LEADERBOARD_FILE).read_text())
    assert recorded["protocol"]["name"] == "tiny" and len(recorded["invocations"]) == 2

    again = tmp_path / "reproduction"
    compared = algobench("--compare", str(out), "--submissions", "nadamw", "--workloads", "smoke",
                         "--out", str(again))
    assert compared.returncode == 0, compared.stdout + compared.stderr
    cells = pd.read_csv(again / "compare.csv")
    assert list(cells[["framework", "entry", "workload"]].itertuples(index=False, name=None)) == [
        ("pytorch", "nadamw", "smoke")]
    assert "cells inside the reference's interval" in compared.stdout
    assert "score pytorch nadamw" in compared.stdout

    # the docs' tables come from the folder, and --check fails once they differ
    doc = tmp_path / "leaderboard.md"
    doc.write_text(f"# page\n\n{leaderboard_tables.START}\nold\n{leaderboard_tables.END}\n")
    assert leaderboard_tables.main(["--check", "--results", str(out), "--doc", str(doc)]) == 1
    assert leaderboard_tables.main(["--write", "--results", str(out), "--doc", str(doc)]) == 0
    assert leaderboard_tables.main(["--check", "--results", str(out), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "`tiny`" in text and "Separated in the score" in text and "Kendall tau" in text
    assert "Against `nadamw`" in text and "- Order: " in text and "host calibration spread" in text
    doc.write_text(text.replace("Separated in the score", "Separated in score"))
    assert leaderboard_tables.main(["--check", "--results", str(out), "--doc", str(doc)]) == 1


def test_the_docs_leaderboard_tables_match_reference_results():
    """What CI runs: docs/leaderboard.md against the shipped reference_results/ (or its absence)."""
    assert leaderboard_tables.main(["--check"]) == 0


def test_the_docs_pilot_tables_match_the_pilot_folder():
    """What CI runs: docs/leaderboard.md's pilot section against docs/data/pilot."""
    assert leaderboard_tables.main(["--check", "--section", "pilot"]) == 0
