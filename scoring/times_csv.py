"""Score a table of per-workload times given directly, without logs.

The file is a CSV with a header row; one row per submission; the first column is the
submission's name and every other column a workload, holding the time to target in seconds, or
`inf` for unsolved. For example:

    submission,mnist,cifar
    adamw,100,inf
    sgd,150,300
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from scoring.profiles import TAU_MAX, score_times


class TimesTableError(ValueError):
    """A malformed times CSV; the message names the file, the line and the fix."""


def read_times_csv(path: Path | str) -> tuple[list[str], list[str], np.ndarray]:
    """Read a times CSV into (names, workloads, times of shape (names, workloads))."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except FileNotFoundError as err:
        raise TimesTableError(f"{path}: no such file; pass the CSV of per-workload times") from err
    except (UnicodeDecodeError, csv.Error) as err:
        raise TimesTableError(f"{path}: not a readable CSV ({err}); write it as UTF-8 CSV") from err
    lines = [(n, line) for n, line in enumerate(lines, start=1) if any(c.strip() for c in line)]
    if len(lines) < 2 or len(lines[0][1]) < 2:
        raise TimesTableError(
            f"{path}: needs a header (name, then one column per workload) and one row per submission"
        )
    header = [c.strip() for c in lines[0][1]]
    workloads = header[1:]
    if len(set(workloads)) != len(workloads) or "" in workloads:
        raise TimesTableError(f"{path}:1: workload names must be distinct and non-empty")
    names, rows = [], []
    for line_no, line in lines[1:]:
        if len(line) != len(header):
            raise TimesTableError(f"{path}:{line_no}: {len(line)} fields, expected {len(header)}; "
                                  "give every workload a time (inf for unsolved)")
        name = line[0].strip()
        if not name or name in names:
            raise TimesTableError(f"{path}:{line_no}: submission name {name!r} is empty or repeated")
        values = []
        for workload, text in zip(workloads, line[1:]):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if math.isnan(value) or value < 0:
                raise TimesTableError(f"{path}:{line_no}: {workload}={text!r} is not a time; write "
                                      "seconds (a number >= 0) or inf for unsolved")
            values.append(value)
        names.append(name)
        rows.append(values)
    return names, workloads, np.array(rows, dtype=float)


def score_times_csv(path: Path | str, tau_max: float = TAU_MAX) -> list[tuple[str, float]]:
    """(name, benchmark score) per submission of a times CSV, in file order."""
    names, _, times = read_times_csv(path)
    return list(zip(names, score_times(times, tau_max).tolist()))
