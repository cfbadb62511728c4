"""A self-contained HTML report of one or more scoreboards (one per framework, or cross-framework).

The page holds, per scoreboard: the leaderboard with its notes, the performance-profile plot, per
entry and workload the best trial's hyperparameters, time and steps to target, seconds per step,
the interval and the "within noise" mark, the pairwise comparisons, every problem and the training
curves of every workload. Then the provenance: ruleset and protocol (development-sized runs
labelled), hosts and their calibration, hardware, library versions, commits, commands, host
steal, and a link to every trial folder. Plots are embedded as base64 SVG data URIs in `<img>`
tags, so the file opens anywhere on its own and fetches nothing; the page has no script.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from scoring.leaderboard_output import display_rows, problem_where, scope_title, title, write_tables
from scoring.noise import WITHIN_NOISE
from scoring.plots import write_plots
from scoring.scoreboard import CROSS, Scoreboard
from scoring.tables import INVOCATION_COLUMNS, Results

CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
code { font-size: 0.9em; overflow-wrap: anywhere; }
.banner { padding: 0.6em 1em; border: 2px solid #c80; background: #fff4e0; font-weight: bold; }
.full { border-color: #080; background: #eaffea; }
.warning { padding: 0.4em 1em; border-left: 4px solid #c00; background: #fff0f0; }
.noise { color: #a60; font-weight: bold; }
section.scope { border-top: 3px solid #446; margin-top: 2em; }
img { max-width: 100%; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
details pre { font-size: 0.85em; }
"""


def html_table(headers: Sequence[str], rows: Sequence[Sequence[object]], raw: Sequence[int] = ()) -> str:
    """An HTML table with every cell escaped, except the columns in `raw` (already HTML)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw else html.escape(str(c))}</td>" for i, c in enumerate(row))
        + "</tr>\n" for row in rows
    )
    return f"<table>\n<tr>{head}</tr>\n{body}</table>\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return str(value)


def frame_table(frame: pd.DataFrame) -> str:
    """An HTML table of a data frame, floats to 4 significant digits."""
    return html_table(list(frame.columns), [[_cell(v) for v in row] for row in frame.itertuples(index=False)])


def embedded_image(svg_path: Path, alt: str) -> str:
    """An `<img>` whose source is the SVG file itself, base64-encoded into the page."""
    data = base64.b64encode(svg_path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def folder_link(folder: str, out: Path, text: str) -> str:
    """A link to a trial folder, relative to the report so that the tree can be moved whole."""
    href = os.path.relpath(Path(folder).resolve(), out.resolve()).replace(os.sep, "/") + "/"
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _noise_cell(mark: str, mds: float) -> str:
    if not mark:
        return ""
    text = html.escape(mark) + (f" (min. detectable {mds:.3g}x)" if math.isfinite(mds) else "")
    return f'<span class="noise">{text}</span>' if mark == WITHIN_NOISE else text


def entry_workload_table(board: Scoreboard, out: Path) -> str:
    """Per entry and workload: time with its interval, ratio and noise mark, the best trial's
    steps to target, seconds per step, hyperparameters and folder."""
    level = f"{board.settings['confidence']:.0%} CI"
    unit = "reference-host s" if board.settings.get("normalize") else "s"
    headers = ["entry", "workload", f"time to target ({unit}, median of studies)", level,
               "ratio to fastest", "vs noise", "best trial", "steps to target", "eval",
               f"{unit} per step", "hyperparameters"]
    rows = []
    for r in board.workload_times.itertuples(index=False):
        best = (folder_link(r.best_path, out, f"study {r.best_study} trial {r.best_trial}")
                if r.best_path else "-")
        rows.append([
            html.escape(r.entry), html.escape(r.workload), _cell(r.time),
            f"[{_cell(r.time_ci_low)}, {_cell(r.time_ci_high)}]", _cell(r.ratio),
            _noise_cell(r.noise_mark, r.min_detectable_speedup), best,
            str(r.steps_to_target) if r.steps_to_target >= 0 else "not reached",
            f"#{r.target_eval}" if r.target_eval else "-",
            f"{r.step_time:.4g}" if math.isfinite(r.step_time) else "-",
            f"<code>{html.escape(r.hparams)}</code>" if r.hparams else "-",
        ])
    return html_table(headers, rows, raw=range(len(headers)))


def scope_section(board: Scoreboard, images: dict[str, list[Path]], out: Path) -> list[str]:
    """The HTML of one scoreboard: leaderboard, profile, per-workload table, pairs, problems, curves."""
    def svg(name):
        return next(p for p in images[name] if p.suffix == ".svg")

    headers, rows = display_rows(board)
    notes = [n for n in board.notes if not n.startswith("warning:")]
    warnings = [n for n in board.notes if n.startswith("warning:")]
    anchor = html.escape(board.scope)
    parts = [
        f'<section class="scope" id="{anchor}">',
        f"<h2>{html.escape(scope_title(board))}</h2>",
        *[f'<p class="warning">{html.escape(w)}</p>' for w in warnings],
        "<h3>Leaderboard</h3>",
        html_table(headers, rows),
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>",
        "<h3>Performance profile</h3>",
        embedded_image(svg("performance_profile"), f"performance profiles, {board.scope}"),
        "<h3>Per entry and workload</h3>",
        "<p>time: median over studies of each study's best time to target; ratio: time / fastest "
        "time of this profile; best trial: the trial with the least time to target over all "
        "studies, with its steps to target, the eval that reached it (#1: the first), its mean "
        "submission seconds per step and its hyperparameters.</p>",
        entry_workload_table(board, out),
        "<h3>Pairwise comparisons</h3>",
        "<p>ratio = time of a / time of b; the verdict names the faster entry only when the "
        "bootstrap interval of the ratio excludes 1; noise_mark compares the ratio with the "
        "recorded minimum detectable speedup.</p>",
        frame_table(board.pairwise),
        "<h3>Problems</h3>",
    ]
    if len(board.problems):
        parts.append(html_table(
            ["kind", "where", "message"],
            [[p.kind, problem_where(p), p.message] for p in board.problems.itertuples(index=False)],
        ))
    else:
        parts.append("<p>none: every expected trial is present and counts.</p>")
    parts.append("<h3>Training curves</h3>")
    for workload in board.workloads:
        parts.append(f"<h4>{html.escape(workload)}</h4>")
        parts.append(embedded_image(svg(workload), f"training curves of {workload}, {board.scope}"))
    parts.append("</section>")
    return parts


def _values(column: pd.Series) -> str:
    """The distinct non-empty values of a column, one per line."""
    return "\n".join(sorted({str(v) for v in column if str(v)})) or "not recorded"


def provenance_section(trials: pd.DataFrame, invocations: pd.DataFrame, out: Path, label: str) -> list[str]:
    """Ruleset and protocol, hosts and calibration, hardware, versions, commits, commands, steal,
    and a link to every trial folder."""
    steal = trials["host_steal"].dropna()
    hosts = []
    for host, group in trials.groupby("host_id", sort=True):
        factor = group["speed_factor"].dropna()
        disturbed = group["calibration_disturbance"].dropna()
        hosts.append([host or "uncalibrated", str(len(group)),
                      _cell(float(group["calibration_sec"].median())),
                      _cell(float(group["reference_sec"].median())),
                      _cell(float(factor.median())) if len(factor) else "-",
                      f"{disturbed.max():.1%}" if len(disturbed) else "-"])
    summary = [
        ["ruleset", _values(trials["ruleset"])],
        ["run size", label],
        ["protocol", _values(trials["protocol"])],
        ["hardware", _values(trials["hardware"])],
        ["library versions", _values(trials["versions"])],
        ["git commit", _values(trials["git_commit"])],
        ["commands (plan.json)", "\n".join(
            f"{r.command}   # {r.planned_at}" + (" (development run)" if r.development else "")
            for r in invocations.itertuples(index=False)) or "no plan.json under the results"],
        ["host steal", (f"max {steal.max():.1%}, median {steal.median():.1%} over {len(steal)} trials "
                        "(share of the trials' CPU time the hypervisor gave to other machines)")
         if len(steal) else "not counted"],
    ]
    commands = sorted({str(c) for c in trials["command"] if str(c)})
    rows = []
    for t in trials.sort_values(["framework", "workload", "submission", "study", "trial"]).itertuples(index=False):
        rows.append([html.escape(f"{t.submission} ({t.framework})"), html.escape(t.workload),
                     folder_link(t.path, out, f"study {t.study} trial {t.trial}"), html.escape(t.status),
                     _cell(t.time_to_target), html.escape(t.host_id or "uncalibrated"),
                     _cell(t.speed_factor), f"{t.host_steal:.1%}" if math.isfinite(t.host_steal) else "-",
                     html.escape(t.started_at)])
    return [
        '<section class="scope" id="provenance">',
        "<h2>Provenance</h2>",
        html_table(["", "value"], [[k, f"<pre>{html.escape(v)}</pre>"] for k, v in summary], raw=[1]),
        f"<details><summary>the {len(commands)} trial process command line(s), as meta.json records "
        "them</summary><pre>" + html.escape("\n".join(commands)) + "</pre></details>",
        "<h3>Hosts and their calibration</h3>",
        "<p>seconds: the fastest block of the fixed calibration product on the host; reference: "
        "the same on the reference host; speed factor: seconds / reference (above 1: slower host); "
        "disturbance: the largest of the trials' median block over fastest block, minus 1 (how "
        "busy the host was while it was calibrated; the fastest block does not depend on it).</p>",
        html_table(["host", "trials", "seconds", "reference seconds", "speed factor", "disturbance"], hosts),
        "<h3>Trials</h3>",
        html_table(["entry", "workload", "folder", "status", "time to target (s, as measured)",
                    "host", "speed factor", "host steal", "started"], rows, raw=[0, 1, 2, 3, 5, 8]),
        "</section>",
    ]


def render_report(boards: Sequence[Scoreboard], images: dict[str, dict[str, list[Path]]],
                  out: Path, raw_trials: pd.DataFrame, invocations: pd.DataFrame) -> str:
    """The HTML text of the report.

    Args:
      boards: one scoreboard per framework, or the cross-framework one.
      images: per board scope, what `scoring.plots.write_plots` returned.
      out: the report's folder (links to trial folders are relative to it).
      raw_trials: the scored trials with their times as measured (for the provenance).
      invocations: the `algobench tune` commands of the plan.json files (`Results.invocations`).
    """
    first = boards[0]
    development = any(b.run.is_development for b in boards)
    banner_class = "banner" if development else "banner full"
    contents = "".join(f'<li><a href="#{html.escape(b.scope)}">{html.escape(scope_title(b))}</a></li>'
                       for b in boards)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title(first))}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>algobench report: {html.escape(first.ruleset)} ruleset</h1>",
        f'<p class="{banner_class}">{html.escape(first.run.label)}</p>',
        "<p>Each framework's entries are ranked among their own: PyTorch and JAX are different "
        "hardware-software stacks. A cross-framework comparison appears only on request "
        "(--cross-framework) and is labelled.</p>" if first.scope != CROSS
        else "<p>Cross-framework comparison, on request: a ratio between frameworks measures the "
             "stack as much as the algorithm.</p>",
        f'<ul>{contents}<li><a href="#provenance">Provenance</a></li></ul>',
    ]
    for board in boards:
        parts += scope_section(board, images[board.scope], out)
    parts += provenance_section(raw_trials, invocations, out, first.run.label)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(boards: Sequence[Scoreboard] | Scoreboard, out: Path | str, log_x: bool = False,
                 results: Results | None = None) -> Path:
    """Write every board's tables and plots under out/<scope>/ and out/report.html; returns the
    report's path. `results` (what the boards were scored from) gives the provenance its trials
    with times as measured and the plan.json commands; without it, the boards' trials."""
    boards = [boards] if isinstance(boards, Scoreboard) else list(boards)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = {}
    for board in boards:
        write_tables(board, out / board.scope)
        images[board.scope] = write_plots(board, out / board.scope, log_x)
    if results is None:
        raw_trials = pd.concat([b.trials for b in boards]).drop_duplicates("path")
        invocations = pd.DataFrame(columns=INVOCATION_COLUMNS)
    else:
        raw_trials = results.trials[results.trials["ruleset"] == boards[0].ruleset]
        invocations = results.invocations
    path = out / "report.html"
    path.write_text(render_report(boards, images, out, raw_trials, invocations), encoding="utf-8")
    return path

