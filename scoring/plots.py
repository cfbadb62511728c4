"""Plots of a scoreboard: the performance profile and per-workload training curves (PNG and SVG).

Training curves show the training-subset and validation metric against submission time and
against steps (four panels), every trial in its entry's colour with its own line style and marker,
drawn half-transparent so that trials whose curves coincide all stay visible; the validation
target is a black dashed line. `log_x` puts the x axes on a log scale.

Figures are drawn with matplotlib's object API on the Agg canvas (pyplot is never imported, so
no global backend is touched). SVG output is deterministic: a fixed `svg.hashsalt` and no date
in the metadata, so plotting the same scoreboard twice writes byte-identical files.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scoring.scoreboard import Scoreboard

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
        # Profiles that coincide stay visible: each entry its own dash pattern, and each drawn
        # thinner than the one before, on top of it.
        for i, (entry, corners) in enumerate(board.profile.groupby("entry", sort=True)):
            ax.step(corners["tau"], corners["rho"], where="post", color=colors[entry], alpha=0.85,
                    linestyle=TRIAL_STYLES[i % len(TRIAL_STYLES)][0], linewidth=max(1.0, 3.2 - 0.6 * i),
                    label=f"{entry} (score {scores[entry]:.4f})")
        tau_max = board.settings["tau_max"]
        ax.set_xlim(1.0 - 0.02 * (tau_max - 1.0), tau_max)  # the rise at tau = 1 stays off the frame
        ax.set_ylim(-0.04, 1.08)  # a profile at 0 or 1 stays clear of the frame
        ax.set_xlabel("tau (time / fastest time)")
        ax.set_ylabel("fraction of workloads with ratio <= tau")
        ax.set_title(f"Performance profiles, {board.ruleset} ruleset, {scope_label(board)}\n"
                     f"{board.run.label}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
    return fig


# One (dash pattern, marker) per trial of an entry: curves that coincide still show every trial,
# as differently dashed lines with different markers.
TRIAL_STYLES = [("-", "o"), ((0, (5, 2)), "s"), ((0, (1, 1.5)), "^"), ((0, (6, 2, 1, 2)), "D"),
                ((2, (3, 3)), "v"), ((0, (8, 3)), "P"), ((1, (1, 3)), "X"), ((0, (3, 1, 1, 1)), "*")]


def curve_figure(board: Scoreboard, workload: str, log_x: bool = False) -> Figure:
    """Training-subset and validation metric of every trial of `workload`, against submission
    time and against steps; the validation target dashed; filled circles at each time to target."""
    trials = board.trials[board.trials["workload"] == workload]
    curves = board.curves[board.curves["workload"] == workload]
    metric = trials["target_metric"].iloc[0] if len(trials) else "metric"
    time_unit = "reference-host s" if board.settings.get("normalize") else "s"
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.6, 6.4))
        axes = fig.subplots(2, 2, sharey="row")
        colors = entry_colors(board.leaderboard["entry"].tolist())
        reached = trials.loc[np.isfinite(trials["scored_time"]), ["entry", "study", "trial", "scored_time"]]
        hits = curves.merge(reached, on=["entry", "study", "trial"])
        hits = hits[hits["time"] == hits["scored_time"]].drop_duplicates(["entry", "study", "trial"])
        for (entry, study, trial), curve in curves.groupby(["entry", "study", "trial"], sort=True):
            dashes, marker = TRIAL_STYLES[(study * 7 + trial) % len(TRIAL_STYLES)]
            label = f"{entry} s{study}/t{trial}"
            for row, column in enumerate(["train_value", "value"]):
                for col, x in enumerate(["time", "step"]):
                    axes[row, col].plot(curve[x], curve[column], color=colors[entry], linestyle=dashes,
                                        marker=marker, markersize=4, markerfacecolor="none",
                                        alpha=0.7, linewidth=1.2, label=label if row == col == 0 else None)
        for entry, group in hits.groupby("entry", sort=True):
            for col, x in enumerate(["time", "step"]):
                axes[1, col].scatter(group[x], group["value"], color=colors[entry], marker="o", s=30,
                                     zorder=3, edgecolors="black", linewidths=0.6)
        if len(trials):
            target = trials["validation_target"].iloc[0]
            for col in range(2):
                axes[1, col].axhline(target, color="black", linestyle="--", linewidth=1.0,
                                     label=f"validation target {target:g}" if col == 0 else None)
        for row, split in enumerate(["training subset", "validation"]):
            axes[row, 0].set_ylabel(f"{split} {metric}")
            for col, xlabel in enumerate([f"submission time ({time_unit})", "steps"]):
                axes[row, col].set_xlabel(xlabel)
                axes[row, col].grid(alpha=0.3)
                if log_x:
                    log_x_axis(axes[row, col])
        fig.suptitle(f"{workload} ({scope_label(board)}): {metric} per trial (circles: time to target)"
                     + (", log x" if log_x else "") + f"\n{board.run.label}", fontsize=9)
        handles, labels = [], []
        for ax in (axes[0, 0], axes[1, 0]):
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=7)
        fig.tight_layout(rect=(0, 0.05 + 0.03 * ((len(labels) - 1) // 4), 1, 1))
    return fig


def log_x_axis(ax) -> None:
    """A log scale labelled at 1, 2 and 5 times powers of ten as plain numbers (matplotlib's
    default labels every minor tick in `a x 10^b` form, which overlap on short ranges)."""
    ax.set_xscale("log")
    axis = ax.xaxis
    axis.set_major_locator(ticker.LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def scope_label(board: Scoreboard) -> str:
    """The board's scope for a plot title: a framework or 'cross-framework'."""
    return board.scope


def write_plots(board: Scoreboard, out: Path | str, log_x: bool = False) -> dict[str, list[Path]]:
    """Write performance_profile.{png,svg} and curves_<workload>.{png,svg} under `out`.

    Returns {'performance_profile': paths, '<workload>': paths, ...}.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"performance_profile": save(profile_figure(board), out / "performance_profile")}
    for workload in board.workloads:
        written[workload] = save(curve_figure(board, workload, log_x), out / f"curves_{safe_name(workload)}")
    return written
