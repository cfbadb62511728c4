"""benchmarks/process_split_overhead.py's docs tables: one per recorded run, never mixed."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import process_split_overhead  # noqa: E402


def record(host: str, in_process: float, separate: float) -> dict:
    repeats = [{"in-process": in_process, "separate-process": separate}] * 3
    return {"host": host, "warmup": 10, "steps": 40,
            "results": [{"workload": "cnn", "framework": "pytorch", "repeats": repeats}]}


def test_each_recorded_run_keeps_its_own_table_file_and_host():
    text = process_split_overhead.tables({"old.json": record("host A", 0.050, 0.060),
                                          "new.json": record("host B", 0.040, 0.042)})
    old, new = text.split("\n\n`new.json`: ")
    assert old.startswith("`old.json`: On host A") and new.startswith("On host B")
    assert "| `cnn` | pytorch | 50.0 | 60.0 | 1.200 [1.200, 1.200] |" in old
    assert "| `cnn` | pytorch | 40.0 | 42.0 | 1.050 [1.050, 1.050] |" in new
