"""Scoring verifies every trial's digest chain and its plan entry (docs/integrity.md), and takes
the target and the budget from the workload registry, not from meta.json.

The trials are written the way the runner writes them (harness.logs.TrialLog) into the folders of
a real plan (`build_plan` + `write_plan` of the nadamw baseline on `smoke`, 1 study x 2 trials),
so the plan's key and plan.json are the ones `algobench tune` makes."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import digests, integrity, study
from harness.logs import TrialLog
from scoring.leaderboard import score_results
from scoring.tables import load_results
from workloads.registry import get_spec

SUBMISSION = "submissions/nadamw"


@pytest.fixture
def plan(tmp_path):
    planned = study.build_plan(SUBMISSION, ["smoke"], ["pytorch"], out=tmp_path / "out", studies=1,
                               trials=2, load_modules=False)
    study.write_plan(planned)
    return planned


def write_run(task: study.TrialTask, values=(0.5, 0.95), **meta_changes) -> None:
    """A finished trial of the plan: eval rows at steps 10, 20, ... with these validation
    accuracies at 1 s, 2 s, ... of submission time; meta.json as the runner writes it."""
    spec = get_spec(task.workload)
    log = TrialLog(task.folder)
    log.write_hparams(task.hyperparameters)
    log.add_event("start")
    for i, value in enumerate(values):
        log.add_eval_row({"global_step": 10 * (i + 1), "preemption_count": 0, "score": float(i + 1),
                          "total_duration": 2.0 * (i + 1), "accumulated_submission_time": float(i + 1),
                          "snapshot": 0, "validation/accuracy": value, "validation/loss": 1 - value})
        log.add_event("eval", global_step=10 * (i + 1))
    log.add_event("stop", reason="targets_reached")
    meta = {"submission": task.submission, "workload": task.workload, "framework": task.framework,
            "ruleset": task.ruleset, "study": task.study, "trial": task.trial, "seed": task.seed,
            "status": "completed", "stop_reason": "targets_reached",
            "target_metric": spec.target_metric, "lower_is_better": spec.lower_is_better,
            "validation_target": spec.validation_target, "budget_sec": spec.max_runtime_sec,
            "reference_budget_sec": spec.max_runtime_sec, **meta_changes}
    log.write_meta(meta)


def problems(results) -> list[tuple[str, str]]:
    return list(zip(results.problems["kind"], results.problems["message"]))


def test_a_trial_written_by_a_run_of_its_plan_is_verified(plan):
    for task in plan.tasks:
        write_run(task)
    results = load_results([plan.out])
    assert results.trials["integrity"].tolist() == ["verified", "verified"]
    assert results.trials["time_to_target"].tolist() == [2.0, 2.0]
    assert problems(results) == []
    assert (plan.out / digests.KEY_FILE).stat().st_mode & 0o077 == 0  # the owner's only
    notes = score_results(results, n_bootstrap=10).notes
    assert "log integrity: 2 of 2 trials verified (digest chain under their plan's key" in " ".join(notes)


@pytest.mark.parametrize("forge, reason", [
    ("edit_row", "entry 1's digest does not verify"),
    ("drop_row", "its last row is not the one meta.json records"),
    ("edit_meta", "meta.json: its digest does not verify"),
    ("edit_hparams", "hparams.json: its digest does not match"),
    ("plain_chain", "digest scheme 'sha256', expected 'hmac-sha256'"),
    ("no_events", "events.jsonl: missing while eval_measurements.csv has rows"),
    ("garbled_events", "events.jsonl:2: not JSON"),
    ("duplicate_row", "row 2 repeats global_step 10"),
    ("strip_digests", "no digests although its plan has a key"),
])
def test_a_forged_or_damaged_trial_is_rejected_with_its_reason(plan, forge, reason):
    fast, honest = plan.tasks
    write_run(honest)
    write_run(fast, values=(0.5, 0.7))  # never reaches the target of 0.93 ...
    folder = fast.folder
    csv_path, meta_path = folder / "eval_measurements.csv", folder / "meta.json"
    lines = csv_path.read_text().splitlines(keepends=True)
    if forge == "edit_row":  # ... so its first row is made to reach it
        csv_path.write_text(lines[0] + lines[1].replace(",0.5,", ",0.95,") + lines[2])
    elif forge == "drop_row":
        csv_path.write_text("".join(lines[:2]))
    elif forge == "edit_meta":
        meta = json.loads(meta_path.read_text())
        meta["validation_target"] = 0.6
        meta_path.write_text(json.dumps(meta))
    elif forge == "edit_hparams":
        (folder / "hparams.json").write_text(json.dumps({**fast.hyperparameters, "learning_rate": 1.0}))
    elif forge == "plain_chain":  # all digests made again without the key: consistent, keyless
        shutil.rmtree(folder)
        real_key = plan.out / digests.KEY_FILE
        real_key.rename(plan.out / "saved.key")
        write_run(fast, values=(0.95, 0.97))
        (plan.out / "saved.key").rename(real_key)
    elif forge == "no_events":
        (folder / "events.jsonl").unlink()
    elif forge == "garbled_events":
        events = (folder / "events.jsonl").read_text().splitlines(keepends=True)
        (folder / "events.jsonl").write_text(events[0] + events[1][:10] + "\n" + "".join(events[2:]))
    elif forge == "duplicate_row":
        csv_path.write_text(lines[0] + lines[1] + lines[1] + lines[2])
    elif forge == "strip_digests":
        meta = json.loads(meta_path.read_text())
        del meta["integrity"]
        meta_path.write_text(json.dumps(meta))
        csv_path.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))
        events = [json.loads(e) for e in (folder / "events.jsonl").read_text().splitlines()]
        (folder / "events.jsonl").write_text(
            "".join(json.dumps(digests.without_digest(e)) + "\n" for e in events))
    results = load_results([plan.out])
    assert results.trials["path"].tolist() == [str(honest.folder)]  # never scored
    assert [kind for kind, _ in problems(results)] == ["rejected"]
    assert reason in problems(results)[0][1]
    assert str(folder) in problems(results)[0][1] or folder.name in problems(results)[0][1]


def test_a_trial_copied_into_a_siblings_folder_or_added_to_the_plan_folder_is_rejected(plan):
    first, second = plan.tasks
    write_run(first)
    shutil.copytree(first.folder, second.folder)  # trial 0's valid logs claimed as trial 1's
    extra = first.folder.parent / "trial_7"  # a trial the plan never had
    shutil.copytree(first.folder, extra)
    results = load_results([plan.out])
    assert results.trials["path"].tolist() == [str(first.folder)]
    rejected = dict((p, m) for k, m, p in zip(results.problems["kind"], results.problems["message"],
                                             results.problems["path"]) if k == "rejected")
    assert set(rejected) == {str(second.folder), str(extra)}
    assert "digest does not verify" in rejected[str(second.folder)]


def test_a_trial_outside_the_plans_list_is_rejected_even_with_valid_digests(plan):
    first, second = plan.tasks
    write_run(first)
    write_run(second)
    recorded = json.loads((plan.out / "plan.json").read_text())
    recorded["trials"] = recorded["trials"][:1]  # the plan lists trial 0 only
    (plan.out / "plan.json").write_text(json.dumps(recorded))
    results = load_results([plan.out])
    assert results.trials["path"].tolist() == [str(first.folder)]
    assert "not a trial of the plan" in problems(results)[0][1]


def test_a_trial_of_the_plan_that_never_ran_is_reported(plan):
    write_run(plan.tasks[0])
    results = load_results([plan.out])
    assert len(results.trials) == 1
    assert [kind for kind, _ in problems(results)] == ["not_run"]
    assert results.problems["path"].tolist() == [str(plan.tasks[1].folder)]
    assert results.problems["trial"].tolist() == [1]


def test_target_and_budget_come_from_the_registry_not_meta_json(plan):
    """A meta.json that the harness wrote with a lower target (an older spec, or a target lowered
    through the objects a submission received) is scored against the registry's, and reported."""
    first, second = plan.tasks
    write_run(first, values=(0.5, 0.95))
    write_run(second, values=(0.9, 0.95), validation_target=0.85, budget_sec=1000.0,
              reference_budget_sec=1000.0)
    results = load_results([plan.out])
    smoke = get_spec("smoke")
    assert results.trials["validation_target"].tolist() == [smoke.validation_target] * 2
    assert results.trials["budget_sec"].tolist() == [smoke.max_runtime_sec] * 2
    assert results.trials["time_to_target"].tolist() == [2.0, 2.0]  # 0.9 < 0.93 at 1 s
    assert [kind for kind, _ in problems(results)] == ["target"]
    assert "validation_target 0.85 (registry: 0.93)" in problems(results)[0][1]


def test_logs_without_digests_are_scored_as_unverified_saying_how_to_rerun(tmp_path, trial_writer):
    folder = trial_writer(tmp_path, "adamw", "mnist")
    meta = json.loads((folder / "meta.json").read_text())
    del meta["integrity"]  # as before digest chains: no integrity, no digest column or key
    (folder / "meta.json").write_text(json.dumps(meta))
    lines = (folder / "eval_measurements.csv").read_text().splitlines()
    (folder / "eval_measurements.csv").write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))
    events = [json.loads(e) for e in (folder / "events.jsonl").read_text().splitlines()]
    (folder / "events.jsonl").write_text("".join(json.dumps(digests.without_digest(e)) + "\n"
                                                 for e in events))
    verdict = integrity.verify_trial(folder)
    assert verdict.status == "unverified" and "algobench tune" in verdict.reason
    results = load_results([tmp_path])
    assert results.trials["integrity"].iloc[0].startswith("unverified: ")
    assert results.problems.empty
    notes = " ".join(score_results(results, n_bootstrap=10).notes)
    assert "log integrity: 0 of 1 trials verified" in notes and "1 unverified, e.g. unverified: " in notes


def test_scoring_reads_each_file_of_a_trial_once(plan, monkeypatch):
    """The bytes scoring verifies are the bytes it parses: every log file of a trial is opened
    once per scoring run (it was read by the integrity check and again by the parser)."""
    import builtins
    import io
    from collections import Counter
    from pathlib import Path

    for task in plan.tasks:
        write_run(task)
    opened = Counter()
    original = io.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)):
            opened[Path(file).resolve()] += 1
        return original(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)  # open(path) in our modules
    monkeypatch.setattr(io, "open", counting_open)  # Path.read_bytes/read_text/open
    results = load_results([plan.out])
    assert set(results.trials["integrity"]) == {integrity.VERIFIED}
    for task in plan.tasks:
        for name in ("meta.json", "hparams.json", "eval_measurements.csv", "events.jsonl"):
            assert opened[(task.folder / name).resolve()] == 1, (task.folder / name, opened)
