"""The stop-46 benchmarks of what a batch costs on its way to the device: their candidate queue
hands over the stream's batches in order, and their tables read back from the recorded runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.benchmark_scripts import load_benchmark
from workloads.data import TrainStream

REPO = Path(__file__).resolve().parents[2]


input_queue, batch_transfer = load_benchmark("input_queue"), load_benchmark("batch_transfer")
SPLIT = {"inputs": np.arange(40, dtype=np.float32).reshape(20, 2), "targets": np.arange(20)}


def test_one_ahead_hands_over_the_streams_batches_in_order_moving_the_next():
    moved = []
    queue = input_queue.OneAhead(TrainStream(SPLIT, 4, seed=7), lambda b: moved.append(1) or b)
    plain = TrainStream(SPLIT, 4, seed=7)
    assert next(queue)["targets"].tolist() == next(plain)["targets"].tolist() and len(moved) == 2
    for _ in range(6):  # across an epoch's end
        assert next(queue)["targets"].tolist() == next(plain)["targets"].tolist()
    assert len(moved) == 8


def test_the_tables_read_back_from_the_recorded_runs():
    record = json.loads((REPO / "docs/data/input_queue_stop46.json").read_text())
    third = input_queue.table(record["runs"][2])
    assert "| `vit` | jax | 15.77 | 17.21 | 15.93 | 0.990 | 1.080 | 1.048 (3 of 16) |" in third
    assert "| - |" in input_queue.table(record["runs"][0])  # the first run kept no rounds
    transfer = batch_transfer.table(json.loads((REPO / "docs/data/batch_transfer_stop46.json").read_text()))
    assert "| `gnn` | 64 | 7 | 0.53 | 0.551 | 0.389 | 0.706 |" in transfer
    doc = (REPO / "docs/performance.md").read_text()
    assert third in doc and transfer in doc  # docs/performance.md holds them as generated
