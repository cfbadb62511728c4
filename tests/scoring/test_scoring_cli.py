"""`algobench score` and `algobench report`, through a parser built the way algobench/cli.py does."""


import pytest

from cli_runner import run


@pytest.fixture
def results(tmp_path, time_writer):
    root = tmp_path / "results"
    for study in range(3):
        time_writer(root, "adamw", "mnist", study, 40.0 + study)
        time_writer(root, "sgd", "mnist", study, 80.0 + study)
    return root


def test_score_prints_the_leaderboard_and_writes_files(tmp_path, results, capsys):
    out = tmp_path / "scored"
    assert run(["score", str(results), "--out", str(out), "--baseline", "sgd", "--bootstrap", "100"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == ("algobench leaderboard: external tuning, pytorch entries "
                        "(development run: 3 studies x 1 trial; the rules ask for 3 x 5)")
    assert lines[3].split()[:4] == ["1", "adamw", "pytorch", "1.0000"]
    # sgd: ratio 81 / 41 -> (4 - 81/41) / 3 = 0.6748
    assert lines[4].split()[:4] == ["2", "sgd", "pytorch", "0.6748"]
    assert "timing noise" in printed
    for name in ("leaderboard.csv", "leaderboard.md", "performance_profile.png", "performance_profile.svg",
                 "curves_mnist.png", "curves_mnist.svg"):
        assert (out / "pytorch" / name).is_file(), name
    assert not (out / "report.html").exists()


def test_score_times_table_prints_one_line_per_submission(tmp_path, capsys):
    # The hand-computed table of test_scoring_profiles.py: scores 8/9, 4/9, 5/9.
    times = tmp_path / "times.csv"
    times.write_text("submission,w1,w2,w3\nA,10,20,30\nB,20,20,inf\nC,50,10,60\n", encoding="utf-8")
    assert run(["score", "--times", str(times)]) == 0
    assert capsys.readouterr().out == "A,0.888889\nB,0.444444\nC,0.555556\n"


@pytest.mark.parametrize("content, fix", [
    ("submission,w1\nA,10\nB,fast\n", "B.csv:3: w1='fast' is not a time"),
    ("submission,w1,w2\nA,10\n", "B.csv:2: 2 fields, expected 3"),
    ("submission,w1\nA,nan\n", "or inf for unsolved"),
    ("submission\n", "needs a header"),
    ("submission,w1\nA,1\nA,2\n", "repeated"),
])
def test_malformed_times_table_exits_2_naming_file_and_fix(tmp_path, capsys, content, fix):
    path = tmp_path / "B.csv"
    path.write_text(content, encoding="utf-8")
    assert run(["score", "--times", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert fix in captured.err and str(path) in captured.err


def test_bad_inputs_exit_2_with_one_line(tmp_path, results, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["score", str(tmp_path / "nope")], "nope: no such folder"),
        (["score", str(empty)], "no readable trial logs"),
        (["score", str(results), "--baseline", "lion"], "baseline 'lion' is not an entry"),
        (["score", str(results), "--ruleset", "self"], "pass --ruleset external"),
        (["score", "--times", str(tmp_path / "missing.csv")], "missing.csv: no such file"),
        (["score"], "no RESULTS_DIR given"),
        (["score", str(results), "--tau-max", "1"], "--tau-max 1 must be greater than 1"),
    ]
    for argv, message in cases:
        assert run(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1


def test_report_writes_html_and_everything_score_writes(tmp_path, results, capsys):
    out = tmp_path / "report"
    assert run(["report", str(results), "--out", str(out), "--bootstrap", "100"]) == 0
    assert f"wrote {out / 'report.html'}" in capsys.readouterr().out
    assert (out / "report.html").is_file()
    for name in ("leaderboard.csv", "leaderboard.md", "performance_profile.svg", "curves_mnist.png"):
        assert (out / "pytorch" / name).is_file(), name
    with pytest.raises(SystemExit):
        run(["report", str(results)])  # --out is required


def test_two_rulesets_need_a_choice(tmp_path, results, time_writer, capsys):
    for study in range(3):
        time_writer(results, "adamw", "mnist", study, 30.0, ruleset="self")
    assert run(["score", str(results)]) == 2
    err = capsys.readouterr().err
    assert "hold rulesets external, self; pass --ruleset external or --ruleset self" in err
    assert run(["score", str(results), "--ruleset", "self", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("algobench leaderboard: self-tuning, pytorch entries (full run: 3 studies)")
    assert "sgd" not in out
