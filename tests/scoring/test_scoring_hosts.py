"""Host calibration in scoring: hosts that differ are flagged; --normalize gives reference-host seconds;
the recorded minimum detectable speedup marks comparisons "within noise" (issue 20)."""

import json
import math

import pytest

from cli_runner import run
from scoring.leaderboard import score_results
from scoring.noise import NOT_MEASURED, WITHIN_NOISE, NoiseFileError, load_noise, noise_mark
from scoring.tables import load_results


def calibration(host_id: str, seconds: float, reference_seconds: float | None = 1.0) -> dict:
    """A meta.json `calibration` as the harness records it (the interface agreed for issue 20)."""
    factor = None if reference_seconds is None else seconds / reference_seconds
    return {"host_id": host_id, "seconds": seconds, "reference_seconds": reference_seconds,
            "speed_factor": factor, "blocks": 300, "median_over_fastest": 1.02}


def kinds(board):
    return list(board.problems["kind"])


def test_trials_on_hosts_whose_calibration_differs_are_flagged(tmp_path, time_writer):
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=calibration("host-a", 1.00))
    time_writer(root, "sgd", "mnist", 0, 50.0, calibration=calibration("host-b", 1.30))
    board = score_results(load_results([root]), n_bootstrap=10)
    flagged = board.problems[board.problems["kind"] == "hosts_differ"]
    assert len(flagged) == 1
    message = flagged["message"].iloc[0]
    assert "differs by 30%" in message and "host-a: 1 s" in message and "--normalize" in message
    assert message.startswith("trials timed on hosts whose") and message.endswith("on one host")


def test_hosts_within_the_threshold_are_not_flagged(tmp_path, time_writer):
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=calibration("host-a", 1.00))
    time_writer(root, "sgd", "mnist", 0, 50.0, calibration=calibration("host-b", 1.05))
    board = score_results(load_results([root]), n_bootstrap=10)
    assert "hosts_differ" not in kinds(board)
    assert "host calibration: 2 of 2 trials calibrated on 2 host(s)" in " ".join(board.notes)


def test_one_hosts_wandering_calibrations_are_not_flagged_but_a_changed_host_is(tmp_path, time_writer):
    # one host: twenty trials, two of them calibrated in a slow moment (30% over the others)
    one_host = tmp_path / "one"
    for study in range(20):
        seconds = 1.30 if study in (3, 11) else 1.0 + 0.005 * (study % 5)
        time_writer(one_host, "adamw", "mnist", study, 40.0, calibration=calibration("host-a", seconds))
    assert "hosts_differ" not in kinds(score_results(load_results([one_host]), n_bootstrap=10))
    # the same host name, but the machine behind it changed halfway (1.45x slower)
    changed = tmp_path / "changed"
    for study in range(20):
        seconds = 1.45 if study >= 10 else 1.0
        time_writer(changed, "adamw", "mnist", study, 40.0, calibration=calibration("host-a", seconds))
    flagged = score_results(load_results([changed]), n_bootstrap=10).problems
    message = flagged.loc[flagged["kind"] == "hosts_differ", "message"].iloc[0]
    assert "10th to 90th percentile" in message and "over 25%" in message
    # one host name: its speed changed, so the fix is not another host but a steady moment
    assert message.startswith("trials timed on one host whose calibration changed between them by 45%")
    assert message.endswith("re-run the workload while the host's calibration holds steady "
                            "(benchmarks/calibrate.py)")


def test_uncalibrated_trials_beside_calibrated_ones_are_flagged(tmp_path, time_writer):
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=calibration("host-a", 1.0))
    time_writer(root, "sgd", "mnist", 0, 50.0)
    board = score_results(load_results([root]), n_bootstrap=10)
    assert "uncalibrated" in kinds(board)
    only_old = tmp_path / "old"
    time_writer(only_old, "sgd", "mnist", 0, 50.0)
    old = score_results(load_results([only_old]), n_bootstrap=10)
    assert "uncalibrated" not in kinds(old)
    assert "host calibration: none recorded" in " ".join(old.notes)


def test_normalize_divides_every_time_by_the_speed_factor(tmp_path, time_writer, capsys):
    root = tmp_path / "r"
    # adamw ran 40 s on a host 2x slower than the reference; sgd 30 s on the reference host.
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=calibration("slow", 2.0, 1.0))
    time_writer(root, "sgd", "mnist", 0, 30.0, calibration=calibration("ref", 1.0, 1.0))
    raw = score_results(load_results([root]), n_bootstrap=10)
    assert raw.leaderboard["entry"].iloc[0] == "sgd"
    board = score_results(load_results([root]), n_bootstrap=10, normalize=True)
    times = board.workload_times.set_index("entry")["time"]
    assert times["adamw"] == 20.0 and times["sgd"] == 30.0
    assert board.leaderboard["entry"].iloc[0] == "adamw"
    adamw_curve = board.curves[board.curves["entry"] == "adamw"]["time"].tolist()
    assert adamw_curve == [10.0, 20.0]
    notes = " ".join(board.notes)
    assert "normalized: every time is in reference-host seconds" in notes
    assert "normalization's error" in notes
    assert run(["score", str(root), "--normalize", "--bootstrap", "10"]) == 0
    assert "normalized to reference-host seconds" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("record", [None, calibration("no-reference", 1.0, reference_seconds=None)])
def test_normalize_refuses_trials_without_a_speed_factor(tmp_path, time_writer, capsys, record):
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=calibration("a", 2.0))
    folder = time_writer(root, "sgd", "mnist", 0, 30.0, calibration=record)
    assert run(["score", str(root), "--normalize"]) == 2
    err = capsys.readouterr().err
    assert "1 of 2 trials have none" in err and str(folder) in err
    assert len(err.strip().splitlines()) == 1


def test_a_trial_calibrated_before_the_reference_was_shipped_is_normalized_against_it(
        tmp_path, time_writer, monkeypatch):
    import scoring.trial_row

    shipped = {"seconds": 0.5, "matrix_size": 256, "calls_per_block": 4}
    monkeypatch.setattr(scoring.trial_row, "_shipped_reference", lambda: shipped)
    same = {**calibration("old", 1.0, reference_seconds=None), "matrix_size": 256, "calls_per_block": 4}
    other = {**same, "calls_per_block": 8}  # another measurement: not comparable with the reference
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=same)
    time_writer(root, "sgd", "mnist", 0, 30.0, calibration=calibration("new", 0.5, 0.5))
    board = score_results(load_results([root]), n_bootstrap=10, normalize=True)
    times = board.workload_times.set_index("entry")["time"]
    assert times["adamw"] == 20.0 and times["sgd"] == 30.0  # 40 s on a host 2x the reference's
    time_writer(root, "lion", "mnist", 0, 30.0, calibration=other)
    with pytest.raises(Exception, match="1 of 3 trials have none"):
        score_results(load_results([root]), n_bootstrap=10, normalize=True)


def test_a_malformed_calibration_makes_the_trial_corrupt(tmp_path, time_writer):
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0)
    time_writer(root, "sgd", "mnist", 0, 30.0, calibration={"host_id": "x", "seconds": "fast"})
    results = load_results([root])
    assert list(results.problems["kind"]) == ["corrupt"]
    assert "bad calibration" in results.problems["message"].iloc[0]


def write_noise(path, workload="mnist", framework="pytorch", mds=1.10):
    path.write_text(json.dumps({workload: {framework: {
        "runs": 5, "spread_cv": 0.03, "min_detectable_speedup": mds, "host_id": "ref"}}}))
    return path


def test_noise_file_loader(tmp_path):
    assert load_noise(tmp_path / "absent.json") == {}
    record = load_noise(write_noise(tmp_path / "n.json"))[("mnist", "pytorch")]
    assert (record.runs, record.min_detectable_speedup, record.host_id) == (5, 1.10, "ref")
    bad = tmp_path / "bad.json"
    for text, message in [("{", "not valid JSON"), ('{"mnist": 3}', "must map framework"),
                          ('{"mnist": {"jax": {"runs": 5}}}', "missing or bad field"),
                          ('{"mnist": {"jax": {"runs": 5, "spread_cv": 0.1, "host_id": "h", '
                           '"min_detectable_speedup": 0.08}}}', "not a time ratio >= 1")]:
        bad.write_text(text)
        with pytest.raises(NoiseFileError, match=message):
            load_noise(bad)


def test_noise_mark():
    assert noise_mark(1.05, 1.10) == WITHIN_NOISE
    assert noise_mark(1.20, 1.10) == "beyond noise"
    assert noise_mark(1.05, None) == NOT_MEASURED
    assert noise_mark(1.0, 1.10) == "" and noise_mark(math.inf, 1.10) == ""
    assert noise_mark(1 / 1.05, 1.10) == WITHIN_NOISE and noise_mark(1 / 1.2, 1.10) == "beyond noise"
    assert noise_mark(0.0, 1.10) == ""  # A over an unsolved B


def test_a_pair_whose_second_entry_never_solves_is_scored_against_the_noise(tmp_path, time_writer):
    """The pilot's `deepspeech` (three of five entries unsolved) once ended its scoring with a
    ZeroDivisionError: the pair's ratio, A over an unsolved B, is 0."""
    root = tmp_path / "r"
    for study in range(3):
        time_writer(root, "adamw", "mnist", study, 40.0)
        time_writer(root, "sgd", "mnist", study, math.inf)
    noise = load_noise(write_noise(tmp_path / "noise.json"))
    board = score_results(load_results([root]), n_bootstrap=10, noise=noise, baseline="adamw")
    pair = board.pairwise.set_index(["a", "b"]).loc[("adamw", "sgd")]
    assert pair["ratio"] == 0.0 and pair["noise_mark"] == ""


def test_speedups_below_the_recorded_minimum_are_within_noise(tmp_path, time_writer, capsys):
    root = tmp_path / "r"
    for study in range(3):
        time_writer(root, "adamw", "mnist", study, 40.0)
        time_writer(root, "sgd", "mnist", study, 42.0)  # 5% slower: below 1.10
        time_writer(root, "lion", "mnist", study, 60.0)  # 50% slower: beyond it
    noise = load_noise(write_noise(tmp_path / "noise.json"))
    board = score_results(load_results([root]), n_bootstrap=10, noise=noise, baseline="adamw")
    marks = board.workload_times.set_index("entry")["noise_mark"]
    assert marks["sgd"] == WITHIN_NOISE and marks["lion"] == "beyond noise" and marks["adamw"] == ""
    assert board.leaderboard.set_index("entry")["speedup_noise"]["sgd"] == WITHIN_NOISE
    pair = board.pairwise[(board.pairwise["a"] == "adamw") & (board.pairwise["b"] == "sgd")]
    assert pair["noise_mark"].iloc[0] == WITHIN_NOISE
    assert run(["score", str(root), "--noise", str(tmp_path / "noise.json"), "--baseline", "adamw",
                "--bootstrap", "10"]) == 0
    printed = capsys.readouterr().out
    assert "minimum detectable speedup (scoring/noise.json, 3 studies at 95%): mnist/pytorch 1.1x" in printed
    assert WITHIN_NOISE in printed


def test_without_a_record_the_output_says_noise_not_measured(tmp_path, time_writer, capsys):
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0)
    time_writer(root, "sgd", "mnist", 0, 42.0)
    write_noise(tmp_path / "noise.json", framework="jax")  # a record, but for another framework
    assert run(["score", str(root), "--noise", str(tmp_path / "noise.json"), "--baseline", "adamw",
                "--bootstrap", "10"]) == 0
    printed = capsys.readouterr().out
    assert "noise not measured for these workloads" in printed
    assert NOT_MEASURED in printed.split("\n\n")[1].splitlines()[2]  # sgd's speedup column
    (tmp_path / "broken.json").write_text("[1]")
    assert run(["score", str(root), "--noise", str(tmp_path / "broken.json")]) == 2
    assert "broken.json: must map workload" in capsys.readouterr().err


def test_budgets_scaled_for_a_slower_host_are_not_inconsistent(tmp_path, time_writer):
    """A trial runs under its workload's budget times its host's speed factor: trials of one
    workload on two hosts have different `budget_sec` but the same `reference_budget_sec`."""
    root = tmp_path / "r"
    time_writer(root, "adamw", "mnist", 0, 40.0, calibration=calibration("host-a", 1.0),
                budget_sec=100.0, extra_meta={"reference_budget_sec": 100.0})
    time_writer(root, "sgd", "mnist", 0, 70.0, calibration=calibration("host-b", 1.5),
                budget_sec=150.0, extra_meta={"reference_budget_sec": 100.0})
    assert "inconsistent" not in kinds(score_results(load_results([root]), n_bootstrap=10))
    time_writer(root, "lamb", "mnist", 0, 70.0, calibration=calibration("host-b", 1.5),
                budget_sec=150.0, extra_meta={"reference_budget_sec": 120.0})
    assert "inconsistent" in kinds(score_results(load_results([root]), n_bootstrap=10))


def test_host_factors_take_the_anchor_then_the_calibration(tmp_path, time_writer):
    from scoring.hosts import host_factors

    ref, rep = tmp_path / "ref", tmp_path / "rep"
    for study in (0, 1, 2):  # the reference: nadamw 2 s a step on mnist (40 s over 20 steps)
        time_writer(ref, "nadamw", "mnist", study, 40.0, calibration=calibration("r", 1.0))
        time_writer(ref, "sgd", "mnist", study, 60.0, calibration=calibration("r", 1.0))
        time_writer(ref, "sgd", "cifar", study, 60.0, calibration=calibration("r", 1.0))
        time_writer(ref, "sgd", "svhn", study, 60.0)  # uncalibrated
    time_writer(rep, "nadamw", "mnist", 0, 70.0, calibration=calibration("p", 0.5))
    time_writer(rep, "nadamw", "mnist", 1, 90.0, calibration=calibration("p", 0.5))  # median 4 s a step
    time_writer(rep, "sgd", "mnist", 0, 100.0, calibration=calibration("p", 0.5))
    time_writer(rep, "sgd", "cifar", 0, 100.0, calibration=calibration("p", 1.5))
    time_writer(rep, "sgd", "svhn", 0, 100.0, calibration=calibration("p", 1.5))
    factors = host_factors(load_results([ref]).trials, load_results([rep]).trials)
    found = {w: (f, how) for _, w, f, how in factors.itertuples(index=False)}
    # the calibration said the reproduction's host was 2x faster; nadamw's steps say 2x slower
    assert found["mnist"] == (pytest.approx(2.0), "anchor")
    assert found["cifar"] == (pytest.approx(1.5), "calibration")
    assert found["svhn"] == (1.0, "as measured")


def test_compare_puts_the_reproduction_on_the_reference_host_of_each_workload(tmp_path, time_writer):
    from algobench.leaderboard import compare, compare_text

    ref, rep = tmp_path / "ref", tmp_path / "rep"
    for study, (nadamw, sgd) in enumerate([(40.0, 60.0), (36.0, 56.0), (44.0, 64.0)]):
        time_writer(ref, "nadamw", "mnist", study, nadamw, calibration=calibration("r", 1.0))
        time_writer(ref, "sgd", "mnist", study, sgd, calibration=calibration("r", 1.0))
        # twice as slow a host: nadamw 2x its reference time, sgd 2x plus 10%
        time_writer(rep, "nadamw", "mnist", study, 2 * nadamw, calibration=calibration("p", 0.7))
        time_writer(rep, "sgd", "mnist", study, 2.2 * sgd, calibration=calibration("p", 0.7))
    cells, scores = compare(load_results([ref]), load_results([rep]), n_bootstrap=50)
    cell = cells.set_index("entry").loc["sgd"]
    assert cell["host_factor"] == pytest.approx(2.0) and cell["normalization"] == "anchor"
    assert cell["time"] == pytest.approx(1.1 * 60.0) and cell["reference_time"] == 60.0
    assert cells.set_index("entry").loc["nadamw", "ratio"] == pytest.approx(1.0)
    text = compare_text(cells, scores, {"anchor": "error measured on time to target: median 5%"})
    assert "host factor by the anchor's (the reference baseline's) seconds per step" in text
    assert "median 5%" in text and "(ratio 1.100; host factor 2.000, anchor)" in text


def test_the_normalization_benchmark_measures_compare_modes_own_factor(tmp_path, time_writer):
    from tests.benchmark_scripts import load_benchmark

    normalization = load_benchmark("normalization_error")
    a, b = tmp_path / "a", tmp_path / "b"
    time_writer(a, "nadamw", "cnn", 0, 30.0)  # 1.5 and 2.5 s a step (20 steps): median 2
    time_writer(a, "nadamw", "cnn", 1, 50.0)
    time_writer(a, "muon", "lm", 0, 9.0)
    time_writer(b, "nadamw", "cnn", 0, 20.0)  # 1 s a step
    time_writer(b, "muon", "lm", 0, 9.0)
    # cnn: medians 2 and 1 s a step; lm has no anchor on both sides, so no ratio
    assert normalization.anchor_ratios(a, b, "nadamw") == {("cnn", "pytorch"): pytest.approx(2.0)}
