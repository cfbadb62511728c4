"""benchmarks/import_cost.py: imports timed side by side in fresh processes."""

import json

from tests.benchmark_scripts import load_benchmark

import_cost = load_benchmark("import_cost")


def test_each_set_is_imported_in_fresh_processes_in_turn(tmp_path):
    out = tmp_path / "imports.json"
    assert import_cost.main(["--sets", "json", "json,csv", "--repeats", "2", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert list(record["seconds"]) == ["json", "json,csv"]
    assert all(len(v) == 2 and min(v) > 0 for v in record["seconds"].values())
    lines = import_cost.table(record["seconds"]).splitlines()
    assert lines[2].startswith("| `json` |") and lines[2].endswith("| 1.00 |")


def test_the_recorded_run_compares_the_harness_import_with_and_without_dynamo():
    from pathlib import Path

    record = json.loads((Path(__file__).resolve().parents[2] / "docs/data/import_cost_stop48.json").read_text())
    assert list(record["seconds"]) == ["harness.pytorch_backend", "harness.pytorch_backend,torch._dynamo"]
