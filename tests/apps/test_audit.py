"""`algobench audit`: re-runs a plan's trials from their logs and flags the curves that do not
match (algobench/audit.py). Two real trials of the nadamw baseline on `smoke` (PyTorch, one core,
about ten seconds each): one honest, one whose eval rows were forged to reach the target sooner
and signed again with the plan's key (what a leaked key or a modified harness could write). The
digest chain accepts both; the audit flags the forged one only."""

from __future__ import annotations

import math

import pytest

from algobench import audit
from algobench.cli import main
from harness import integrity, study
from harness.logs import TrialLog, read_eval_rows, read_json
from harness.trial import run_trial

SUBMISSION = "submissions/nadamw"


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "out"
    planned = study.build_plan(SUBMISSION, ["smoke"], ["pytorch"], out=out, studies=1, trials=2)
    study.write_plan(planned)
    for task in planned.tasks:
        # one thread, as the audit's re-run takes from meta.json; the process is not pinned
        meta = run_trial(task, cores=[0])
        assert meta["status"] == "completed"
    return planned


def forge(folder) -> None:
    """Raise every logged validation accuracy by 0.05 (capped at 1) and sign the log again."""
    rows = read_eval_rows(folder / "eval_measurements.csv")
    meta = read_json(folder / "meta.json")
    log = TrialLog.resume(folder)
    log.rows = []
    for row in rows:
        row["validation/accuracy"] = min(1.0, row["validation/accuracy"] + 0.05)
        log.add_eval_row(row)
    log.write_meta(meta)


def test_audit_matches_honest_trials_and_flags_a_forged_log(plan, capsys):
    honest, forged = plan.tasks
    forge(forged.folder)
    assert integrity.verify_trial(forged.folder).status == "verified"  # the chain cannot tell

    code = main(["audit", str(plan.out), "--sample", "2"])
    out = capsys.readouterr().out
    assert code == 1
    lines = {line.split()[1].rstrip(",:"): line for line in out.splitlines() if line.startswith(("match", "mismatch"))}
    assert lines[str(honest.folder)].startswith("match ")
    assert "largest deviation 0" in lines[str(honest.folder)]  # one host, one core: exact
    assert lines[str(forged.folder)].startswith("mismatch ")
    assert "validation accuracy differs beyond tolerance 0.01" in lines[str(forged.folder)]
    assert "audited 2 trials" in out and "1 match, 1 flagged" in out


def test_audit_reports_a_log_that_fails_verification_without_rerunning_it(plan, tmp_path):
    folder = plan.tasks[0].folder
    csv_path = folder / "eval_measurements.csv"
    text = csv_path.read_text()
    try:
        csv_path.write_text(text.replace(",0.", ",0.9", 1))
        result = audit.audit_trial(folder)
        assert result.verdict == "rejected" and "does not verify" in result.detail
    finally:
        csv_path.write_text(text)


def test_compare_uses_the_documented_tolerance():
    recorded = {10: 0.50, 20: 0.90, 30: 2.0}
    assert audit.compare(recorded, {10: 0.509, 20: 0.90, 30: 2.019}, 0.01) == ([], pytest.approx(0.019), [])
    mismatched, largest, unreached = audit.compare(recorded, {10: 0.52, 20: 0.90}, 0.01)
    assert mismatched == [10] and largest == pytest.approx(0.02) and unreached == [30]
    assert audit.compare({10: math.nan}, {10: math.nan}, 0.01)[0] == []


def test_audit_refuses_a_folder_without_a_plan(tmp_path, capsys):
    assert main(["audit", str(tmp_path)]) == 2
    assert "no plan.json; pass the --out folder of `algobench tune`" in capsys.readouterr().err
