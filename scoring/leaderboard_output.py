"""A scoreboard for people and files: the leaderboard as aligned text for a terminal
(`leaderboard_text`), as Markdown (`leaderboard_markdown`), and the CSV tables with
leaderboard.md under a folder (`write_tables`)."""

from __future__ import annotations

import math
from pathlib import Path

from scoring.scoreboard import CROSS, Scoreboard


def _fmt(value: float, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    return format(value, spec)


def display_rows(board: Scoreboard) -> tuple[list[str], list[list[str]]]:
    """The leaderboard as strings for people: (headers, rows)."""
    level = f"{board.settings['confidence']:.0%} CI"
    headers = ["rank", "entry", "framework", "score", level, "reached target",
               f"within tau_max={board.settings['tau_max']:g}", "noise CV"]
    baseline = board.settings["baseline"]
    if baseline is not None:
        headers += [f"speedup vs {baseline}", "speedup CI", "vs noise"]
    rows = []
    for r in board.leaderboard.itertuples(index=False):
        row = [str(r.rank), r.entry, r.framework, _fmt(r.score, ".4f"),
               f"[{_fmt(r.score_ci_low, '.4f')}, {_fmt(r.score_ci_high, '.4f')}]",
               f"{r.reached}/{r.workloads}", f"{r.within_tau}/{r.workloads}", _fmt(r.noise_cv_median, ".1%")]
        if baseline is not None:
            speedup = _fmt(r.speedup_vs_baseline, ".3f")
            row += [speedup + ("x" if speedup != "-" else ""),
                    f"[{_fmt(r.speedup_ci_low, '.3f')}, {_fmt(r.speedup_ci_high, '.3f')}]",
                    r.speedup_noise or "-"]
        rows.append(row)
    return headers, rows


def scope_title(board: Scoreboard) -> str:
    """'pytorch entries' or 'cross-framework comparison (pytorch and jax in one profile)'."""
    if board.scope == CROSS:
        frameworks = " and ".join(sorted(board.leaderboard["framework"].unique()))
        return f"cross-framework comparison ({frameworks} in one profile)"
    return f"{board.scope} entries"


def title(board: Scoreboard) -> str:
    """E.g. 'algobench leaderboard: external tuning, pytorch entries (development run: ...)'."""
    ruleset = {"external": "external tuning", "self": "self-tuning"}.get(board.ruleset, board.ruleset)
    normalized = ", normalized to reference-host seconds" if board.settings.get("normalize") else ""
    return f"algobench leaderboard: {ruleset}, {scope_title(board)}{normalized} ({board.run.label})"


def leaderboard_text(board: Scoreboard, max_problems: int | None = 20) -> str:
    """The leaderboard for a terminal: title, aligned table, notes, and the problems."""
    headers, rows = display_rows(board)
    widths = [max(len(x) for x in column) for column in zip(headers, *rows)]
    lines = [title(board), ""]
    for row in [headers, *rows]:
        lines.append("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip())
    lines += [""] + [f"- {note}" for note in board.notes]
    shown = board.problems if max_problems is None else board.problems.head(max_problems)
    for p in shown.itertuples(index=False):
        lines.append(f"  {p.kind}: {problem_text(p)}")
    if len(shown) < len(board.problems):
        lines.append(f"  ... {len(board.problems) - len(shown)} more in problems.csv")
    return "\n".join(lines) + "\n"


def problem_where(p) -> str:
    """Where a problem is: its path, else its submission/ruleset/framework/workload/study/trial."""
    if p.path:
        return p.path
    parts = [p.submission, p.ruleset, p.framework, p.workload]
    parts += [f"study_{p.study}" if p.study else "", f"trial_{p.trial}" if p.trial else ""]
    return "/".join(x for x in parts if x)


def problem_text(p) -> str:
    """'where: message', or the message alone when it already starts with the path."""
    where = problem_where(p)
    return p.message if p.message.startswith(where) else f"{where}: {p.message}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table ('|' in cells escaped)."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)]) + "\n"


def leaderboard_markdown(board: Scoreboard) -> str:
    """The leaderboard as Markdown: title, table, notes, problems."""
    headers, rows = display_rows(board)
    parts = [f"# {title(board)}\n", markdown_table(headers, rows)]
    parts.append("".join(f"- {note}\n" for note in board.notes))
    if len(board.problems):
        parts.append("## Problems\n\n" + "".join(
            f"- {p.kind}: {problem_text(p)}\n" for p in board.problems.itertuples(index=False)))
    return "\n".join(parts)


TABLE_FILES = {
    "leaderboard.csv": "leaderboard",
    "workload_times.csv": "workload_times",
    "profile.csv": "profile",
    "pairwise.csv": "pairwise",
    "problems.csv": "problems",
    "trials.csv": "trials",
}


def write_tables(board: Scoreboard, out: Path | str) -> list[Path]:
    """Write the CSV tables and leaderboard.md under `out`; every CSV has a `run` column.

    Returns the paths written. The files depend only on the logs and the settings, so scoring
    the same logs twice writes byte-identical files.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, attribute in TABLE_FILES.items():
        table = getattr(board, attribute).copy()
        table["run"] = board.run.label
        path = out / name
        table.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    path = out / "leaderboard.md"
    path.write_text(leaderboard_markdown(board), encoding="utf-8")
    written.append(path)
    return written
