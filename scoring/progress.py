"""What the trials of a running plan measured, for its progress lines (harness/study.py's
`Progress` counts trials; these read their results): the best time to target so far per
framework/workload, and at the end each study's best and their median (the score's input,
docs/scoring.md; `algobench score OUT` gives the full scoring). Plain Python on meta.json dicts."""

from __future__ import annotations

import math
import statistics
from typing import Iterable


def trial_time(meta: dict) -> float:
    """A trial's time to target from its meta.json: inf unless it completed and reached it."""
    ttt = (meta.get("final") or {}).get("time_to_target")
    return math.inf if meta.get("status") != "completed" or ttt is None else float(ttt)


def best_so_far(metas: Iterable[dict]) -> str:
    """Per `framework/workload`: the smallest time to target of an ended trial so far, and which
    trial it was; "" before any trial ended."""
    best: dict[str, tuple[float, dict]] = {}
    for meta in metas:
        name = f"{meta.get('framework')}/{meta.get('workload')}"
        ttt = trial_time(meta)
        if name not in best or ttt < best[name][0]:
            best[name] = (ttt, meta)
    return "; ".join(f"{name} best {ttt:.2f} s (study {meta['study']} trial {meta['trial']})"
                     if math.isfinite(ttt) else f"{name} best -"
                     for name, (ttt, meta) in sorted(best.items()))


def study_medians(metas: Iterable[dict]) -> list[str]:
    """Per `framework/workload`: each study's best time and their median, one line each."""
    groups: dict[str, dict[int, float]] = {}
    for meta in metas:
        name = f"{meta.get('framework')}/{meta.get('workload')}"
        study = groups.setdefault(name, {})
        study[meta["study"]] = min(study.get(meta["study"], math.inf), trial_time(meta))
    lines = []
    for name, per_study in sorted(groups.items()):
        times = [per_study[s] for s in sorted(per_study)]
        shown = ", ".join(f"{t:.2f}" if math.isfinite(t) else "inf" for t in times)
        median = statistics.median(times)
        lines.append(f"  {name}: best per study [{shown}] s, median {median:.2f} s"
                     if math.isfinite(median) else
                     f"  {name}: best per study [{shown}] s, median inf (target not reached)")
    return lines
