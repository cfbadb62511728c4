"""Scoring: time to target, performance profiles, benchmark scores, intervals, plots and reports.

Read logs with `load_results`, score one ruleset with `score_frameworks` (one scoreboard per
framework, or a labelled cross-framework one) or `score_results` (one scope), then write tables
(`write_tables`), plots (`scoring.plots.write_plots`) or the HTML report
(`scoring.report.write_report`). docs/scoring.md defines every quantity. Plotting modules import
matplotlib and are not imported here.
"""

from scoring.leaderboard import score_frameworks, score_results
from scoring.leaderboard_output import leaderboard_markdown, leaderboard_text, write_tables
from scoring.noise import load_noise
from scoring.profiles import (
    TAU_MAX,
    apply_variant_rule,
    benchmark_scores,
    geometric_mean_speedups,
    performance_profile,
    performance_ratios,
    score_times,
)
from scoring.scoreboard import CROSS, Scoreboard, ScoringInputError
from scoring.tables import Results, load_results
from scoring.time_to_target import time_to_target

__all__ = [
    "CROSS",
    "TAU_MAX",
    "Results",
    "Scoreboard",
    "ScoringInputError",
    "apply_variant_rule",
    "benchmark_scores",
    "geometric_mean_speedups",
    "leaderboard_markdown",
    "leaderboard_text",
    "load_results",
    "performance_profile",
    "performance_ratios",
    "load_noise",
    "score_frameworks",
    "score_results",
    "score_times",
    "time_to_target",
    "write_tables",
]
