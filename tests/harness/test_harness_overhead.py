"""benchmarks/harness_overhead.py and its table (benchmarks/harness_overhead_table.py): the
summary of known repeats, the doc's table and its --check, and one tiny end-to-end run on `smoke`
(correctness only: the figures of this loaded machine mean nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import harness_overhead  # noqa: E402
import harness_overhead_table  # noqa: E402


def repeat(harness_sec: float, bare_sec: float, other: float = 0.5, in_loop_sec: float | None = None) -> dict:
    accounts = {"submission": 8.0, "setup": 1.0, "eval": 0.5, "checkpoint": 0.0, "logging": 0.0, "other": other}
    out = {"harness": {"seconds_per_step": harness_sec, "accounts": accounts,
                       "total_duration": sum(accounts.values())},
           "bare_seconds_per_step": bare_sec}
    if in_loop_sec is not None:  # since stop 40
        out["bare_in_loop_seconds_per_step"] = in_loop_sec
    return out


def record(label: str) -> dict:
    return {"label": label, "host": "a host", "steps": 100, "warmup": 5, "repeats": 3,
            "git_commit": "abc", "started_at": "now",
            "results": [{"workload": "cnn", "framework": "jax",
                         "repeats": [repeat(0.0110, 0.0100), repeat(0.0102, 0.0100, other=1.5),
                                     repeat(0.0125, 0.0100)]}]}


def test_summary_takes_medians_of_the_per_repeat_ratios_and_shares():
    s = harness_overhead.summary(record("x")["results"][0])
    assert s["ratio"] == pytest.approx([1.10, 1.02, 1.25])
    assert s["shares"]["setup"] == pytest.approx(1.0 / 10.0)  # of the wall time, 10 s
    assert s["shares"]["other"] == pytest.approx(0.5 / 10.0)  # median of 0.5/10, 1.5/11, 0.5/10


def test_the_table_shows_each_run_with_its_spread():
    text = harness_overhead_table.table([record("before"), record("after")])
    rows = [line for line in text.splitlines() if line.startswith("| `cnn`")]
    assert [r.split(" | ")[2] for r in rows] == ["before", "after"]
    assert "1.100 [1.020, 1.250]" in rows[0] and "11.00 [10.20, 12.50]" in rows[0]
    assert "10.0%" in rows[0]  # setup's share
    assert rows[0].split(" | ")[6] == "-"  # these runs did not measure a bare loop with its batches


def test_the_bare_loop_with_its_batches_in_the_loop_gets_its_own_ratio():
    run = record("stop40")
    run["evals_at_steps"] = [5, 105]
    run["results"][0]["repeats"] = [repeat(0.0110, 0.0100, in_loop_sec=0.0105),
                                    repeat(0.0102, 0.0100, in_loop_sec=0.0100)]
    assert harness_overhead.summary(run["results"][0])["ratio_in_loop"] == pytest.approx([1.10 / 1.05, 1.02])
    text = harness_overhead_table.table([run])
    header, row = [line for line in text.splitlines() if line.startswith(("| workload", "| `cnn`"))]
    assert header.split(" | ")[6] == "harness/bare, batches in the loop"
    assert row.split(" | ")[6] == "1.034 [1.020, 1.048]"
    assert "evals at steps 5 and 105, each workload's own snapshot period" in text


def test_runs_compared_with_a_sync_every_step_get_that_ratio_and_their_device():
    gpu = record("gpu")
    result = gpu["results"][0]
    result["device"] = {"accelerator": "NVIDIA H200", "num_devices": 1}
    for r, every_step in zip(result["repeats"], (0.0120, 0.0110, 0.0150)):
        r["harness_sync_every_step"] = {"seconds_per_step": every_step}
    text = harness_overhead_table.table([gpu])
    assert "device NVIDIA H200" in text
    header, row = [line for line in text.splitlines() if line.startswith(("| workload", "| `cnn`"))]
    assert "harness/bare, sync every step" in header
    assert row.split(" | ")[7] == "1.200 [1.100, 1.500]"  # next to today's 1.100 [1.020, 1.250]
    assert len(header.split("|")) == len(row.split("|"))
    assert "sync every step" not in harness_overhead_table.table([record("cpu")])


def test_runs_that_compared_different_runners_share_one_table():
    synced, batched = record("synced"), record("batched")
    batched["eval_period"] = 1.0
    for r in synced["results"][0]["repeats"]:
        r["harness_sync_every_step"] = {"seconds_per_step": 0.012}
    for r in batched["results"][0]["repeats"]:
        r["harness_one_step_a_call"] = {"seconds_per_step": 0.011}
    text = harness_overhead_table.table([synced, batched])
    header, first, second = [line for line in text.splitlines() if line.startswith(("| workload", "| `cnn`"))]
    assert header.split(" | ")[7:9] == ["harness/bare, sync every step", "harness/bare, one step a call"]
    assert first.split(" | ")[7:9] == ["1.200 [1.200, 1.200]", "-"]
    assert second.split(" | ")[7:9] == ["-", "1.100 [1.100, 1.100]"]
    assert "eval period 1 s" in text


def test_each_section_has_its_own_markers(tmp_path, monkeypatch):
    data = tmp_path / "run.json"
    data.write_text(json.dumps(record("after")))
    doc = tmp_path / "performance.md"
    gpu_start, gpu_end = harness_overhead_table.markers("gpu")
    doc.write_text(f"{harness_overhead_table.START}\n| cpu |\n{harness_overhead_table.END}\n"
                   f"{gpu_start}\n| stale |\n{gpu_end}\n")
    monkeypatch.setattr(harness_overhead_table, "DOC", doc)
    assert harness_overhead_table.main([str(data), "--section", "gpu", "--write"]) == 0
    assert "| cpu |" in doc.read_text() and "| stale |" not in doc.read_text()


def test_check_fails_on_a_doc_that_drifted(tmp_path, monkeypatch):
    data = tmp_path / "run.json"
    data.write_text(json.dumps(record("after")))
    doc = tmp_path / "performance.md"
    doc.write_text(f"before\n{harness_overhead_table.START}\n| stale |\n{harness_overhead_table.END}\nafter\n")
    monkeypatch.setattr(harness_overhead_table, "DOC", doc)
    assert harness_overhead_table.main([str(data), "--check"]) == 1
    assert harness_overhead_table.main([str(data), "--write"]) == 0
    assert harness_overhead_table.main([str(data), "--check"]) == 0
    assert doc.read_text().startswith("before\n") and doc.read_text().endswith("\nafter\n")


def test_a_tiny_run_on_smoke_writes_its_json(tmp_path):
    out = tmp_path / "overhead.json"
    # evals at steps 1 and 6, snapshots at smoke's own period
    done = subprocess.run([sys.executable, "benchmarks/harness_overhead.py", "--workloads", "smoke",
                           "--repeats", "1", "--steps", "5", "--warmup", "1",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["host"] and [(r["workload"], r["framework"]) for r in result["results"]] == [
        ("smoke", "pytorch"), ("smoke", "jax")]
    for r in result["results"]:
        assert r["isolation"] == "separate-process"  # the runner as `algobench run` runs it
        (only,) = r["repeats"]
        assert only["harness"]["global_step"] == 6 and only["harness"]["steps_measured"] == 5
        assert only["bare_seconds_per_step"] > 0 and only["harness"]["seconds_per_step"] > 0
        assert only["bare_in_loop_seconds_per_step"] > 0
    assert "| smoke | jax |" in done.stdout


def test_the_gpu_script_says_so_and_measures_nothing_without_a_gpu(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script would measure")
    done = subprocess.run(["bash", "benchmarks/gpu_overhead.sh"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OUT": str(tmp_path)})
    assert done.returncode == 2, done.stderr[-2000:]
    environment = (tmp_path / "environment.txt").read_text()
    assert "no framework sees a GPU here" in environment and "package torch:" in environment
    assert not (tmp_path / "harness_overhead.json").exists()


def test_compared_runners_are_measured_side_by_side(tmp_path):
    """`--compare-sync --compare-steps-per-call` (what benchmarks/gpu_overhead.sh runs): the harness
    with a sync every step and with one step a call too, their ratios in the table next to today's;
    tiny settings on the CPU, correctness only; a tiny eval period, so a snapshot (a sync) after
    every step."""
    out = tmp_path / "overhead.json"
    done = subprocess.run([sys.executable, "benchmarks/harness_overhead.py", "--workloads", "smoke",
                           "--frameworks", "pytorch", "--repeats", "2", "--steps", "12", "--warmup", "1",
                           "--eval-period", "1e-6", "--compare-sync", "--compare-steps-per-call",
                           "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(out.read_text())["results"]
    assert [r["order"] for r in result["repeats"]] == ["harness first", "bare first"]  # of five kinds
    for r in result["repeats"]:
        for kind in ("harness_sync_every_step", "harness_one_step_a_call"):
            assert r[kind]["global_step"] == r["harness"]["global_step"] == 13
            assert r[kind]["seconds_per_step"] > 0
    summary = harness_overhead.summary(result)
    assert len(summary["ratio_sync_every_step"]) == len(summary["ratio_one_step_a_call"]) == 2
    assert ("harness/bare, batches in the loop | harness/bare, sync every step | "
            "harness/bare, one step a call |") in done.stdout


def test_the_bare_jax_loop_keeps_at_most_two_steps_in_flight(monkeypatch):
    """With every step queued at once, XLA:CPU's all-reduce across host devices deadlocked and
    aborted the benchmark's JAX child (issue 28; benchmarks/xla_cpu_allreduce_deadlock.py): the
    bare loop waits for the step before after queuing a step, as a trial does."""
    jax = pytest.importorskip("jax")
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # Setting changes it: restored after
    setting = harness_overhead.Setting("smoke", "jax", None, steps=4, warmup=1)
    events = []  # ("step", its output) and ("wait", the tree waited for), in order
    real_jit, real_wait = jax.jit, jax.block_until_ready

    def recording_jit(fn, *args, **kwargs):
        compiled = real_jit(fn, *args, **kwargs)
        if getattr(fn, "__name__", "") != "step":
            return compiled

        def step(*step_args):
            out = compiled(*step_args)
            events.append(("step", out))
            return out
        return step

    def recording_wait(tree):
        events.append(("wait", tree))
        return real_wait(tree)

    monkeypatch.setattr(jax, "jit", recording_jit)
    monkeypatch.setattr(jax, "block_until_ready", recording_wait)
    assert setting.bare() > 0
    outputs = [out for kind, out in events if kind == "step"]
    assert len(outputs) == 5
    assert setting.bare(batches_in_loop=True) > 0 and len(events) > 10  # both loops
    for k in range(2, len(outputs)):  # when step k is queued, step k - 2 has been waited for
        queued_at = next(i for i, (kind, out) in enumerate(events) if kind == "step" and out is outputs[k])
        assert any(kind == "wait" and out is outputs[k - 2] for kind, out in events[:queued_at]), k
