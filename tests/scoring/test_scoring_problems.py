"""What is missing, failed, corrupt or over budget is reported and counts as unsolved."""

import json
import math
import shutil

import pytest

from scoring.completeness import RunSize
from scoring.leaderboard import score_results
from scoring.leaderboard_output import leaderboard_markdown, leaderboard_text
from scoring.tables import load_results


def kinds(board):
    return board.problems["kind"].tolist()


def test_corrupt_logs_are_reported_with_their_path_and_never_scored(tmp_path, trial_writer, time_writer):
    for study in range(3):
        time_writer(tmp_path, "a", "w", study, 100.0)
        time_writer(tmp_path, "b", "w", study, 150.0)
    # b's trial 1 of study 0 would be the fastest of all, but its CSV is cut mid-row.
    truncated = time_writer(tmp_path, "b", "w", 0, 10.0, trial=1)
    csv = truncated / "eval_measurements.csv"
    csv.write_text(csv.read_text()[:-25], encoding="utf-8")
    # And a meta.json that lacks the target.
    bad_meta = trial_writer(tmp_path, "b", "w", study=1, trial=1)
    (bad_meta / "meta.json").write_text('{"status": "completed", "workload": "w"}', encoding="utf-8")
    results = load_results([tmp_path])
    assert sorted(results.problems["path"]) == sorted([str(truncated), str(bad_meta)])
    board = score_results(results, n_bootstrap=20)
    # their digests no longer verify (docs/integrity.md): rejected before they are read
    corrupt = board.problems[board.problems["kind"] == "rejected"]
    assert set(corrupt["path"]) == {str(truncated), str(bad_meta)}
    assert any("eval_measurements.csv" in m for m in corrupt["message"])
    assert any("no `integrity` record" in m for m in corrupt["message"])
    assert dict(zip(board.leaderboard["entry"], board.leaderboard["score"]))["a"] == 1.0
    assert str(truncated) in leaderboard_text(board)


def test_over_budget_trials_do_not_count(tmp_path, time_writer):
    for study in range(3):
        time_writer(tmp_path, "a", "w", study, 100.0, budget_sec=200.0)
        time_writer(tmp_path, "b", "w", study, 250.0, budget_sec=200.0)  # past the budget
        time_writer(tmp_path, "b", "w2", study, 200.0, budget_sec=200.0)  # exactly at it: counts
        time_writer(tmp_path, "a", "w2", study, 200.0, budget_sec=200.0)
    board = score_results(load_results([tmp_path]), n_bootstrap=20)
    b = board.trials[(board.trials["entry"] == "b") & (board.trials["workload"] == "w")]
    assert (b["time_to_target"] == 250.0).all()
    assert b["scored_time"].map(math.isinf).all()
    assert (b["excluded"] == "over_budget").all()
    assert kinds(board) == ["over_budget"] * 3
    # b: w unsolved, w2 ratio 1 -> (0 + 3) / 6.
    assert dict(zip(board.leaderboard["entry"], board.leaderboard["score"])) == {"a": 1.0, "b": 0.5}


def test_failed_diverged_and_unfinished_trials_are_reported_as_unsolved(tmp_path, time_writer):
    time_writer(tmp_path, "a", "w", 0, 50.0, status="failed")
    time_writer(tmp_path, "a", "w", 1, 50.0, status="diverged")
    time_writer(tmp_path, "a", "w", 2, 50.0, status="running")
    for study in range(3):
        time_writer(tmp_path, "b", "w", study, 100.0)
    board = score_results(load_results([tmp_path]), n_bootstrap=20)
    assert kinds(board) == ["diverged", "failed", "running"]
    assert board.leaderboard.set_index("entry").loc["a", "score"] == 0.0
    messages = board.problems.set_index("kind")["message"]
    assert "never finished" in messages["running"]
    assert "(RuntimeError: boom)" in messages["failed"]
    assert "(stop reason diverged)" in messages["diverged"]


def test_missing_studies_and_trials_are_reported(tmp_path, time_writer):
    for study in range(3):
        for trial in range(2):
            time_writer(tmp_path, "a", "w", study, 100.0 + trial, trial=trial)
    time_writer(tmp_path, "b", "w", 0, 80.0, trial=0)
    time_writer(tmp_path, "b", "w", 0, 90.0, trial=1)
    time_writer(tmp_path, "b", "w", 1, 85.0, trial=0)
    board = score_results(load_results([tmp_path]), n_bootstrap=20)
    missing = board.problems[board.problems["kind"] == "missing"]
    assert missing[["study", "trial"]].values.tolist() == [["1", "1"], ["2", ""]]
    # b's study 2 is unsolved, so b's median over (80, 85, inf) is 85.
    assert board.workload_times.set_index("entry").loc["b", "time"] == 85.0


def test_duplicate_trials_are_reported_once_and_scored_once(tmp_path, time_writer):
    first = time_writer(tmp_path / "r1", "a", "w", 0, 100.0)
    copy = tmp_path / "r2" / first.relative_to(tmp_path / "r1")  # the same place in its results
    shutil.copytree(first, copy)
    results = load_results([tmp_path / "r1", tmp_path / "r2", tmp_path / "r1"])
    assert len(results.trials) == 1
    assert results.problems["kind"].tolist() == ["duplicate"]
    assert results.problems["path"].tolist() == [str(copy)]


def test_missing_root_raises_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_results([tmp_path / "nowhere"])


def test_run_size_labels():
    assert RunSize("external", 1, 2).label == "development run: 1 study x 2 trials; the rules ask for 3 x 5"
    assert RunSize("external", 3, 5).label == "full run: 3 studies x 5 trials"
    assert RunSize("external", 3, 4).is_development
    assert RunSize("self", 1, 1).label == "development run: 1 study; the rules ask for 3"
    assert RunSize("self", 3, 1).label == "full run: 3 studies"


def test_development_label_is_in_every_text_output(tmp_path, time_writer):
    time_writer(tmp_path, "a", "w", 0, 10.0, trial=0)
    time_writer(tmp_path, "a", "w", 0, 12.0, trial=1)
    board = score_results(load_results([tmp_path]), n_bootstrap=20)
    label = "development run: 1 study x 2 trials; the rules ask for 3 x 5"
    assert board.run.label == label
    assert label in leaderboard_text(board).splitlines()[0]
    assert label in leaderboard_markdown(board).splitlines()[0]
    assert "zero width" in leaderboard_text(board)


def test_meta_final_time_that_disagrees_with_the_eval_rows_is_reported(tmp_path, time_writer,
                                                                       meta_rewriter):
    folder = time_writer(tmp_path, "a", "w", 0, 40.0)
    assert json.loads((folder / "meta.json").read_text())["final"]["time_to_target"] == 40.0
    meta_rewriter(folder, lambda meta: meta["final"].update(time_to_target=20.0))
    results = load_results([tmp_path])
    assert results.trials["scored_time"].tolist() == [40.0]  # the eval rows are the contract
    assert results.problems["kind"].tolist() == ["mismatch"]
    assert "20 s but eval_measurements.csv gives 40 s" in results.problems["message"].iloc[0]


def test_a_trial_timed_on_a_contended_host_is_scored_and_reported(tmp_path, time_writer, meta_rewriter):
    quiet = time_writer(tmp_path, "a", "w", 0, 40.0, trial=0)
    busy = time_writer(tmp_path, "a", "w", 0, 30.0, trial=1)
    for folder, steal in ((quiet, 0.01), (busy, 0.32)):
        meta_rewriter(folder, lambda meta: meta["final"].update(host_steal_fraction=steal))
    results = load_results([tmp_path])
    assert results.trials["scored_time"].tolist() == [40.0, 30.0]  # scored as logged
    assert results.problems["kind"].tolist() == ["contended"]
    assert results.problems["path"].tolist() == [str(busy)]
    assert "took 32% of the trial's CPU time" in results.problems["message"].iloc[0]
    board = score_results(results, n_bootstrap=20)
    assert "contended: " in leaderboard_text(board)
