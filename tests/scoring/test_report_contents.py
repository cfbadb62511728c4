"""What `algobench report` shows: the best trial per entry and workload, curves, warnings, provenance."""

import html
import json

import pytest

from cli_runner import run
from scoring.leaderboard import score_results
from scoring.plots import curve_figure
from scoring.tables import load_results

PROVENANCE = {
    "hardware": {"cpu": "Test CPU 9000", "cpu_id": "family 6 model 1 stepping 1", "cores_used": 2,
                 "cores_available": 4, "accelerator": None, "num_devices": 1},
    "versions": {"python": "3.11.2", "torch": "2.13.0", "numpy": "2.0.0"},
    "git_commit": "abc123def+dirty",
    "command": "algobench tune submissions/adamw --out results",
    "started_at": "2026-12-03T12:00:00+0000",
    "protocol": "quick",
    "calibration": {"host_id": "host-7", "seconds": 1.2, "reference_seconds": 1.0, "speed_factor": 1.2,
                    "blocks": 300, "median_over_fastest": 1.02},
}


@pytest.fixture
def results(tmp_path, trial_writer):
    root = tmp_path / "results"
    meta = {**PROVENANCE, "final": {"global_step": 30, "time_to_target": 20.0, "host_steal_fraction": 0.02}}
    for trial, evals in enumerate([[(10.0, 0.5), (20.0, 0.5), (30.0, 0.95)],
                                   [(10.0, 0.5), (20.0, 0.95), (30.0, 0.97)]]):
        trial_writer(root, "adamw", "mnist", 0, trial, evals, extra_meta=meta)
        trial_writer(root, "sgd", "mnist", 0, trial, [(15.0, 0.5), (30.0, 0.6), (45.0, 0.92)],
                     extra_meta=meta)
    (root / "plan.json").write_text(json.dumps({"invocations": [
        {"command": "algobench tune submissions/adamw --studies 1 --trials 2 --out results",
         "planned_at": "2026-12-03T11:00:00+0000", "development": True}]}))
    return root


def test_report_shows_best_trial_hyperparameters_steps_step_time_and_provenance(tmp_path, results, capsys):
    out = tmp_path / "report"
    assert run(["report", str(results), "--out", str(out), "--bootstrap", "20"]) == 0
    text = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    # adamw's best trial is trial 1 (target at 20 s, the second eval, step 20, lr 0.002).
    row = text.split("<td>adamw</td><td>mnist</td>")[1].split("</tr>")[0]
    assert "study 0 trial 1" in row and '"learning_rate": 0.002' in row
    assert "<td>20</td>" in row and "<td>#2</td>" in row  # steps to target, the eval that reached it
    assert "<td>1</td>" in row  # seconds per step: 30 s of submission time over 30 steps
    assert "[20, 20]" in row  # the interval
    for shown in ("Test CPU 9000", "torch 2.13.0", "abc123def+dirty", "algobench tune submissions/adamw",
                  "host-7", "max 2.0%", "quick", "external", "development run: 1 study x 2 trials",
                  "algobench tune submissions/adamw --studies 1 --trials 2 --out results   # "
                  "2026-12-03T11:00:00+0000 (development run)"):
        assert shown in text, shown
    assert "noise not measured" in text


def test_warning_where_every_entry_reaches_the_target_at_the_first_eval(tmp_path, trial_writer):
    root = tmp_path / "r"
    trial_writer(root, "adamw", "mnist", 0, 0, [(10.0, 0.95), (20.0, 0.97)])
    trial_writer(root, "sgd", "mnist", 0, 0, [(12.0, 0.93)])
    board = score_results(load_results([root]), n_bootstrap=10)
    assert any(n.startswith("warning: on mnist every entry reached the target at its first eval")
               for n in board.notes)
    trial_writer(root, "lion", "mnist", 0, 0, [(12.0, 0.5), (24.0, 0.93)])
    board = score_results(load_results([root]), n_bootstrap=10)
    assert not any(n.startswith("warning:") for n in board.notes)


def test_curves_show_train_and_validation_against_time_and_steps_with_the_target(results):
    board = score_results(load_results([results]), n_bootstrap=10)
    fig = curve_figure(board, "mnist")
    axes = fig.axes
    assert [(a.get_xlabel(), a.get_ylabel()) for a in axes] == [
        ("submission time (s)", "training subset accuracy"), ("steps", ""),
        ("submission time (s)", "validation accuracy"), ("steps", "")]
    for ax in axes:
        assert ax.get_xscale() == "linear"
        assert len([line for line in ax.get_lines() if len(line.get_xdata()) == 3]) == 4  # 4 trials
    targets = [line for line in axes[2].get_lines() if list(line.get_ydata()) == [0.9, 0.9]]
    assert len(targets) == 1 and targets[0].get_linestyle() == "--"
    assert all(ax.get_xscale() == "log" for ax in curve_figure(board, "mnist", log_x=True).axes)


def test_trials_whose_curves_coincide_stay_visible(tmp_path, trial_writer):
    root = tmp_path / "r"
    same = [(10.0, 0.5), (20.0, 0.95)]
    for trial in range(3):
        trial_writer(root, "adamw", "mnist", 0, trial, same)
    board = score_results(load_results([root]), n_bootstrap=10)
    lines = [line for line in curve_figure(board, "mnist").axes[0].get_lines()]
    styles = {(str(line.get_linestyle()), str(line.get_dashes() if hasattr(line, "get_dashes") else ""),
               line.get_marker()) for line in lines}
    assert len(lines) == 3 and len(styles) == 3  # one line style and marker per trial
    assert all(line.get_alpha() < 1 for line in lines)  # drawn see-through
    assert all(line.get_markerfacecolor() == "none" for line in lines)  # hollow markers
