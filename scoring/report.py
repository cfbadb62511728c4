"""A self-contained HTML report of a scoreboard: one file, images embedded, no external links.

The report holds the run-size label, the leaderboard with its notes, the performance-profile plot,
the per-workload times with intervals, the pairwise comparisons, every problem, and one training
curve plot per workload. Plots are embedded as base64 SVG data URIs in `<img>` tags, so the file
opens anywhere on its own and figures cannot clash with one another.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from scoring.leaderboard import Scoreboard, display_rows, problem_where, title
from scoring.plots import write_plots

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
.banner { padding: 0.6em 1em; border: 2px solid #c80; background: #fff4e0; font-weight: bold; }
.full { border-color: #080; background: #eaffea; }
img { max-width: 100%; }
"""


def html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table with every cell escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows
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


def render_report(board: Scoreboard, images: dict[str, list[Path]]) -> str:
    """The HTML text of the report; `images` is what `scoring.plots.write_plots` returned."""
    def svg(name):
        return next(p for p in images[name] if p.suffix == ".svg")

    banner_class = "banner" if board.run.is_development else "banner full"
    headers, rows = display_rows(board)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title(board))}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>algobench: {html.escape(board.ruleset)} ruleset</h1>",
        f'<p class="{banner_class}">{html.escape(board.run.label)}</p>',
        "<h2>Leaderboard</h2>",
        html_table(headers, rows),
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in board.notes) + "</ul>",
        "<h2>Performance profile</h2>",
        embedded_image(svg("performance_profile"), "performance profiles"),
        "<h2>Per-workload times</h2>",
        "<p>time: median over studies of each study's best time to target (s); "
        "ratio: time / fastest time on that workload; score_ratio: the ratio that enters the score.</p>",
        frame_table(board.workload_times.drop(columns=["study_times"])),
        "<h2>Pairwise comparisons</h2>",
        "<p>ratio = time of a / time of b; the verdict names the faster entry only when the "
        "bootstrap interval of the ratio excludes 1.</p>",
        frame_table(board.pairwise),
        "<h2>Problems</h2>",
    ]
    if len(board.problems):
        parts.append(html_table(
            ["kind", "where", "message"],
            [[p.kind, problem_where(p), p.message] for p in board.problems.itertuples(index=False)],
        ))
    else:
        parts.append("<p>none: every expected trial is present and counts.</p>")
    parts.append("<h2>Training curves</h2>")
    for workload in board.workloads:
        parts.append(f"<h3>{html.escape(workload)}</h3>")
        parts.append(embedded_image(svg(workload), f"training curves of {workload}"))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(board: Scoreboard, out: Path | str) -> Path:
    """Write the plots and out/report.html; returns the report's path."""
    out = Path(out)
    images = write_plots(board, out)
    path = out / "report.html"
    path.write_text(render_report(board, images), encoding="utf-8")
    return path
