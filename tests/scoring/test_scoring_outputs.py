"""Tables, plots and the HTML report: deterministic and self-contained."""

import base64
import math
from html.parser import HTMLParser

import pytest

from scoring.leaderboard import score_results
from scoring.leaderboard_output import write_tables
from scoring.plots import write_plots
from scoring.report import write_report
from scoring.tables import load_results


@pytest.fixture
def results_dir(tmp_path, time_writer, trial_writer):
    root = tmp_path / "results"
    for study in range(2):
        for trial in range(2):
            time_writer(root, "adamw", "mnist", study, 40.0 + 7 * study + 3 * trial, trial=trial)
            time_writer(root, "sgd", "mnist", study, 70.0 + 5 * study + 2 * trial, trial=trial)
            time_writer(root, "adamw", "mnist_wide", study, 60.0 + 4 * trial, trial=trial,
                        base_workload="mnist")
            time_writer(root, "sgd", "mnist_wide", study, math.inf if study else 90.0, trial=trial,
                        base_workload="mnist")
    trial_writer(root, "sgd", "mnist", study=2, trial=0, evals=[(5.0, 0.95)], status="diverged")
    return root


def score(root, **kwargs):
    return score_results(load_results([root]), variant_rule=True, baseline="sgd", n_bootstrap=200, **kwargs)


def test_scoring_the_same_logs_twice_gives_byte_identical_files(tmp_path, results_dir):
    outs = [tmp_path / "out1", tmp_path / "out2"]
    for out in outs:
        board = score(results_dir)
        write_tables(board, out)
        write_plots(board, out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    assert {"leaderboard.csv", "leaderboard.md", "performance_profile.svg", "performance_profile.png",
            "curves_mnist.svg", "curves_mnist_wide.png", "problems.csv"} <= set(names)
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    leaderboard = (outs[0] / "leaderboard.csv").read_text()
    assert leaderboard.splitlines()[0].startswith("rank,entry,submission,framework,score,score_ci_low")
    assert "development run: 3 studies x 2 trials; the rules ask for 3 x 5" in leaderboard
    assert "Date" not in (outs[0] / "performance_profile.svg").read_text()


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.links, self.cells = [], [], [], []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        self._in_cell = tag == "td"

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


def test_html_report_is_self_contained_with_leaderboard_and_profile(tmp_path, results_dir):
    board = score(results_dir)
    path = write_report(board, tmp_path / "report")
    text = path.read_text(encoding="utf-8")
    parser = Collector()
    parser.feed(text)
    parser.close()
    assert "table" in parser.tags
    assert {"adamw", "sgd"} <= set(parser.cells)
    # Links go to sections of the page or, relative to it, to the trial folders.
    for link in parser.links:
        assert link.startswith("#") or (path.parent / link / "meta.json").is_file(), link
    assert sum(not link.startswith("#") for link in parser.links) >= len(board.trials)
    # One profile plus one curve plot per workload, every one embedded as an SVG data URI.
    assert len(parser.images) == 1 + len(board.workloads)
    for src in parser.images:
        assert src.startswith("data:image/svg+xml;base64,")
        assert b"<svg" in base64.b64decode(src.split(",", 1)[1])
    assert 'alt="performance profiles, pytorch"' in text
    assert board.run.label in text
    assert "diverged" in text  # the problem is in the report
    assert "http" not in text  # nothing is fetched from anywhere
