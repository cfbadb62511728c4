"""Plots of a scoreboard: the performance profile and per-workload training curves (PNG and SVG).

Figures are drawn with matplotlib's object API on the Agg canvas (pyplot is never imported, so
no global backend is touched). SVG output is deterministic: a fixed `svg.hashsalt` and no date
in the metadata, so plotting the same scoreboard twice writes byte-identical files.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scoring.leaderboard import Scoreboard

STYLE = {"svg.hashsalt": "algobench", "svg.fonttype": "path", "font.size": 9}
METADATA = {"svg": {"Date": None, "Creator": None}, "png": {"Software": None}}
FORMATS = ("png", "svg")


def entry_colors(entries: list[str]) -> dict[str, str]:
    """A fixed colour per entry, in entry order (tab10 cycle)."""
    cycle = matplotlib.colormaps["tab10"].colors
    return {e: matplotlib.colors.to_hex(cycle[i % len(cycle)]) for i, e in enumerate(sorted(entries))}


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write `fig` as stem.png and stem.svg, deterministically."""
    FigureCanvasAgg(fig)
    paths = []
    with matplotlib.rc_context(STYLE):
        for fmt in FORMATS:
            path = stem.with_suffix(f".{fmt}")
            fig.savefig(path, format=fmt, metadata=METADATA[fmt], dpi=110)
            paths.append(path)
    return paths


def safe_name(name: str) -> str:
    """A file-name-safe version of a workload name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def profile_figure(board: Scoreboard) -> Figure:
    """Every entry's performance profile rho(tau) on [1, tau_max], drawn as exact steps."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        colors = entry_colors(board.leaderboard["entry"].tolist())
        scores = dict(zip(board.leaderboard["entry"], board.leaderboard["score"]))
        for entry, corners in board.profile.groupby("entry", sort=True):
            ax.step(corners["tau"], corners["rho"], where="post", color=colors[entry],
                    label=f"{entry} (score {scores[entry]:.3f})", linewidth=1.6)
        ax.set_xlim(1.0, board.settings["tau_max"])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("tau (time / fastest time)")
        ax.set_ylabel("fraction of workloads with ratio <= tau")
        ax.set_title(f"Performance profiles, {board.ruleset} ruleset\n{board.run.label}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
    return fig


def curve_figure(board: Scoreboard, workload: str) -> Figure:
    """Validation metric against submission time for every trial of `workload`, target dashed."""
    trials = board.trials[board.trials["workload"] == workload]
    curves = board.curves[board.curves["workload"] == workload]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        colors = entry_colors(board.leaderboard["entry"].tolist())
        labelled = set()
        for (entry, study, trial), curve in curves.groupby(["entry", "study", "trial"], sort=True):
            label = entry if entry not in labelled else None
            labelled.add(entry)
            ax.plot(curve["time"], curve["value"], color=colors[entry], alpha=0.6,
                    linewidth=1.0, marker=".", markersize=3, label=label)
        reached = trials.loc[np.isfinite(trials["scored_time"]), ["entry", "study", "trial", "scored_time"]]
        hits = curves.merge(reached, on=["entry", "study", "trial"])
        hits = hits[hits["time"] == hits["scored_time"]].drop_duplicates(["entry", "study", "trial"])
        for entry, group in hits.groupby("entry", sort=True):
            ax.scatter(group["time"], group["value"], color=colors[entry], marker="o",
                       s=22, zorder=3, edgecolors="black", linewidths=0.5)
        if len(trials):
            first = trials.iloc[0]
            ax.axhline(first["validation_target"], color="black", linestyle="--", linewidth=1.0,
                       label=f"target {first['validation_target']:g}")
            metric = first["target_metric"]
        else:
            metric = "metric"
        ax.set_xlabel("submission time (s)")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(f"{workload}: validation {metric} vs submission time "
                     f"(circles: time to target)\n{board.run.label}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
    return fig


def write_plots(board: Scoreboard, out: Path | str) -> dict[str, list[Path]]:
    """Write performance_profile.{png,svg} and curves_<workload>.{png,svg} under `out`.

    Returns {'performance_profile': paths, '<workload>': paths, ...}.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"performance_profile": save(profile_figure(board), out / "performance_profile")}
    for workload in board.workloads:
        written[workload] = save(curve_figure(board, workload), out / f"curves_{safe_name(workload)}")
    return written
