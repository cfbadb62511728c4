"""The recorded timing noise of the reference baseline: scoring/noise.json.

The file is written by the noise benchmark (issue 20) from repeated runs of the reference baseline
at one point with different seeds, and read here only:

    {"<workload>": {"<framework>": {"runs": 5, "spread_cv": 0.021,
                                    "min_detectable_speedup": 1.04, "host_id": "..."}}}

`min_detectable_speedup` is a time ratio (1.04 = a 4% speedup): the smallest ratio of two
entries' times on that workload and framework that three studies resolve at 95%. A ratio below
it is "within noise". A missing file, workload or framework means "noise not measured": nothing
is guessed in its place. `noise_mark` and `speedup_noise_mark` mark a leaderboard's ratios and
speedups against it; `measured_noise_note` is the leaderboard's note on what was measured.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOISE_FILE = Path(__file__).resolve().parent / "noise.json"
NOT_MEASURED = "noise not measured"
WITHIN_NOISE = "within noise"
BEYOND_NOISE = "beyond noise"


class NoiseFileError(ValueError):
    """A malformed noise.json; the message names the file and the fix."""


@dataclass(frozen=True)
class NoiseRecord:
    """The measured noise of one (workload, framework)."""

    runs: int
    spread_cv: float
    min_detectable_speedup: float
    host_id: str


def _record(path: Path, workload: str, framework: str, value: object) -> NoiseRecord:
    where = f"{path}: {workload}/{framework}"
    fix = ("write {runs: int, spread_cv: float, min_detectable_speedup: ratio > 1, host_id: str}, "
           "or re-run the noise benchmark")
    if not isinstance(value, dict):
        raise NoiseFileError(f"{where} is not an object; {fix}")
    try:
        record = NoiseRecord(runs=int(value["runs"]), spread_cv=float(value["spread_cv"]),
                             min_detectable_speedup=float(value["min_detectable_speedup"]),
                             host_id=str(value["host_id"]))
    except (KeyError, TypeError, ValueError) as err:
        raise NoiseFileError(f"{where}: missing or bad field ({err}); {fix}") from err
    if not (math.isfinite(record.min_detectable_speedup) and record.min_detectable_speedup >= 1.0):
        raise NoiseFileError(f"{where}: min_detectable_speedup {record.min_detectable_speedup:g} is "
                             f"not a time ratio >= 1 (1.04 means 4%); {fix}")
    return record


def load_noise(path: Path | str | None = None) -> dict[tuple[str, str], NoiseRecord]:
    """{(workload, framework): NoiseRecord} from noise.json; {} when the file does not exist.

    Raises:
      NoiseFileError: the file exists but is not valid JSON of the documented shape.
    """
    path = Path(NOISE_FILE if path is None else path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NoiseFileError(f"{path}: not valid JSON ({err}); re-run the noise benchmark") from err
    if not isinstance(data, dict):
        raise NoiseFileError(f"{path}: must map workload -> framework -> record; re-run the noise benchmark")
    out = {}
    for workload, frameworks in data.items():
        if not isinstance(frameworks, dict):
            raise NoiseFileError(f"{path}: {workload} must map framework -> record; re-run the noise benchmark")
        for framework, value in frameworks.items():
            out[(workload, framework)] = _record(path, workload, framework, value)
    return out


def noise_mark(ratio: float, min_detectable: float | None) -> str:
    """How a time ratio (either way round: A over B) compares with the minimum detectable one.

    "" for a ratio of exactly 1 (the same time) or where one side is unsolved (a ratio of 0, inf
    or NaN); `NOT_MEASURED` without a record; `WITHIN_NOISE` below the minimum detectable ratio,
    else `BEYOND_NOISE`.
    """
    if not math.isfinite(ratio) or ratio <= 0.0 or ratio == 1.0:
        return ""
    if min_detectable is None or not math.isfinite(min_detectable):
        return NOT_MEASURED
    return WITHIN_NOISE if max(ratio, 1.0 / ratio) < min_detectable else BEYOND_NOISE


def noise_of(noise: dict, workload: str, framework: str) -> float | None:
    """The recorded minimum detectable speedup of (workload, framework), or None."""
    record = noise.get((workload, framework))
    return None if record is None else record.min_detectable_speedup


def max_or_none(a: float | None, b: float | None) -> float | None:
    """The larger of two minimum detectable speedups; None unless both were measured."""
    return None if a is None or b is None else max(a, b)


def speedup_noise_mark(speedup: float, ratios_e: np.ndarray, ratios_b: np.ndarray, workloads: list[str],
                       framework_e: str, framework_b: str, noise: dict) -> str:
    """Whether a geometric-mean speedup is within noise: below the geometric mean of the minimum
    detectable speedups of the workloads both solve ("noise not measured" if one is missing)."""
    if not math.isfinite(speedup):
        return ""
    both = [w for w, a, b in zip(workloads, ratios_e, ratios_b) if math.isfinite(a) and math.isfinite(b)]
    mds = [max_or_none(noise_of(noise, w, framework_e), noise_of(noise, w, framework_b)) for w in both]
    if not mds or any(m is None for m in mds):
        return NOT_MEASURED if speedup != 1.0 else ""
    return noise_mark(max(speedup, 1.0 / speedup), float(np.exp(np.mean(np.log(mds)))))


def measured_noise_note(noise: dict, workloads: list[str], frameworks: list[str]) -> str:
    """Which (workload, framework) have a recorded minimum detectable speedup."""
    cells = [(w, f) for w in workloads for f in frameworks]
    have = [c for c in cells if c in noise]
    if not have:
        return ("minimum detectable speedup: noise not measured for these workloads "
                "(scoring/noise.json has no entry); speedups carry no within-noise mark")
    listed = ", ".join(f"{w}/{f} {noise[(w, f)].min_detectable_speedup:.3g}x" for w, f in have)
    missing = len(cells) - len(have)
    return (f"minimum detectable speedup (scoring/noise.json, 3 studies at 95%): {listed}"
            + (f"; noise not measured for {missing} other (workload, framework)" if missing else "")
            + f"; '{WITHIN_NOISE}' marks a ratio below it")
