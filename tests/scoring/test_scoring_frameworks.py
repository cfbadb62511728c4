"""Frameworks are scored among their own entries; a cross-framework profile only on request.

Before this, PyTorch and JAX entries shared one profile: on `smoke`, JAX's compile time put both
JAX entries over 4x the fastest PyTorch one, so they scored 0 and showed "solved 0/1" although
both reached the target.
"""


import pytest

from cli_runner import run
from scoring.leaderboard import score_frameworks, score_results
from scoring.scoreboard import CROSS, ScoringInputError
from scoring.tables import load_results


@pytest.fixture
def two_frameworks(tmp_path, time_writer):
    """The smoke situation (under a made-up workload name, "mlp", scored against its logged targets): the JAX entries reach the target, but 5x later than PyTorch's."""
    root = tmp_path / "results"
    for study in range(2):
        time_writer(root, "nadamw", "mlp", study, 10.0 + study, framework="pytorch")
        time_writer(root, "my_sgd", "mlp", study, 12.0 + study, framework="pytorch")
        time_writer(root, "nadamw", "mlp", study, 50.0 + study, framework="jax")
        time_writer(root, "my_sgd", "mlp", study, 55.0 + study, framework="jax")
    return root


def test_each_framework_gets_its_own_profile_and_leaderboard(two_frameworks):
    boards = score_frameworks(load_results([two_frameworks]), n_bootstrap=50)
    assert [b.scope for b in boards] == ["jax", "pytorch"]
    jax = boards[0].leaderboard.set_index("entry")
    assert jax.loc["nadamw", "score"] == 1.0  # fastest among the JAX entries
    assert jax.loc["my_sgd", "score"] > 0.9
    assert (jax["reached"] == 1).all() and (jax["within_tau"] == 1).all()
    assert set(jax["framework"]) == {"jax"}
    assert set(boards[1].leaderboard["framework"]) == {"pytorch"}
    assert "jax entries only" in " ".join(boards[0].notes)


def test_score_command_ranks_jax_entries_among_themselves(two_frameworks, capsys):
    assert run(["score", str(two_frameworks), "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "algobench leaderboard: external tuning, jax entries (" in printed
    assert "algobench leaderboard: external tuning, pytorch entries (" in printed
    jax_part = printed.split("pytorch entries (")[0]
    rows = [line.split() for line in jax_part.splitlines() if line.startswith(("1 ", "2 "))]
    assert rows[0][:4] == ["1", "nadamw", "jax", "1.0000"]
    assert rows[1][:3] == ["2", "my_sgd", "jax"] and float(rows[1][3]) > 0.9
    # "solved" is split in two, and the output says which is which.
    assert "reached target" in printed and "within tau_max=4" in printed
    assert "0.0000" not in printed


def test_cross_framework_only_on_request_and_labelled(two_frameworks, capsys):
    assert run(["score", str(two_frameworks), "--cross-framework", "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("algobench leaderboard: external tuning, cross-framework comparison "
                              "(jax and pytorch in one profile)")
    assert "different hardware-software stacks" in printed
    lines = {line.split()[1] + line.split()[2]: line.split() for line in printed.splitlines()
             if line[:1].isdigit() and "(" in line}
    # The JAX entries reached the target but are beyond tau_max of the fastest: 1/1 and 0/1.
    jax_row = lines["nadamw(jax)"]
    assert jax_row[7:9] == ["1/1", "0/1"]  # rank, name, (jax), jax, score, [ci], reached, within


def test_scoring_two_frameworks_as_one_scope_needs_a_choice(two_frameworks):
    results = load_results([two_frameworks])
    with pytest.raises(ScoringInputError, match="hold frameworks jax, pytorch"):
        score_results(results, n_bootstrap=10)
    board = score_results(results, framework=CROSS, n_bootstrap=10)
    assert len(board.leaderboard) == 4 and board.scope == CROSS


def test_baseline_by_submission_name_resolves_in_each_framework(tmp_path, two_frameworks, capsys):
    # docs/submitting.md step 5: `score results/my_sgd results/nadamw --baseline nadamw` after
    # tuning both frameworks exited 2 ("not an entry").
    out = tmp_path / "scores"
    assert run(["score", str(two_frameworks), "--baseline", "nadamw", "--out", str(out),
                "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("speedup vs nadamw") == 2
    for framework in ("jax", "pytorch"):
        table = (out / framework / "leaderboard.csv").read_text()
        assert "speedup_vs_baseline" in table.splitlines()[0]
        assert (out / framework / "performance_profile.svg").is_file()


def test_baseline_in_one_framework_only_is_noted_and_unknown_is_an_error(tmp_path, two_frameworks,
                                                                         time_writer, capsys):
    for study in range(2):
        time_writer(two_frameworks, "lion", "mlp", study, 9.0, framework="pytorch")
    assert run(["score", str(two_frameworks), "--baseline", "lion", "--bootstrap", "20"]) == 0
    assert "no speedup: baseline 'lion' has no entry in jax" in capsys.readouterr().out
    assert run(["score", str(two_frameworks), "--baseline", "adam", "--bootstrap", "20"]) == 2
    assert "baseline 'adam' is not an entry" in capsys.readouterr().err
    # Cross-framework: a submission with two entries is ambiguous; the entry name is not.
    assert run(["score", str(two_frameworks), "--cross-framework", "--baseline", "nadamw"]) == 2
    assert "e.g. 'nadamw (pytorch)'" in capsys.readouterr().err
    assert run(["score", str(two_frameworks), "--cross-framework", "--baseline", "nadamw (pytorch)",
                "--bootstrap", "20"]) == 0
