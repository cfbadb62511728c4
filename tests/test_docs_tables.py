"""Tables in the docs are generated from recorded results; a doc that differs from its recorded
results fails here (run the script named in the message to rewrite it)."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def check_passes(*command: str) -> None:
    """A table script's `--check` (run as CI runs it) finds its doc as its records give it."""
    done = subprocess.run([sys.executable, *command, "--check"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def script(name: str):
    """The module of scripts/<name>.py."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "scripts"))


def test_the_baselines_time_to_target_table_matches_its_recorded_run():
    check_passes("scripts/baselines_table.py", "docs/data/time_to_target_muon_ademamix.json")


def test_the_check_fails_on_a_doc_that_drifted(tmp_path, monkeypatch):
    baselines_table = script("baselines_table")
    doc = tmp_path / "baselines.md"
    doc.write_text(f"before\n{baselines_table.START}\n| a stale row |\n{baselines_table.END}\nafter\n")
    monkeypatch.setattr(baselines_table, "DOC", doc)
    assert baselines_table.main([str(REPO / "docs/data/time_to_target_muon_ademamix.json"), "--check"]) == 1
    baselines_table.main([str(REPO / "docs/data/time_to_target_muon_ademamix.json"), "--write"])
    assert baselines_table.main([str(REPO / "docs/data/time_to_target_muon_ademamix.json"), "--check"]) == 0
    assert doc.read_text().startswith("before\n") and doc.read_text().endswith("after\n")


def test_the_re_derived_targets_in_the_docs_are_the_records():
    check_passes("scripts/targets_tables.py")


def test_the_targets_tables_script_sees_a_stale_table(tmp_path):
    targets_tables = script("targets_tables")
    doc = tmp_path / "targets.md"
    doc.write_text(f"before\n{targets_tables.START}\n| a stale row |\n{targets_tables.END}\nafter\n")
    records = ["--records", str(REPO / "docs/data/targets"), "--doc", str(doc)]
    assert targets_tables.main(["--check", *records]) == 1
    assert targets_tables.main(["--write", *records]) == 0
    assert targets_tables.main(["--check", *records]) == 0
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "| a stale row |" not in text
    assert "#### `cnn` (accuracy, higher is better)" in text and "| pytorch | 3 | 0.8936 |" in text


def test_the_workloads_table_matches_the_registry_and_recorded_times():
    check_passes("scripts/workloads_table.py")


def test_the_workloads_table_takes_five_seeds_at_todays_target_first(tmp_path):
    workloads_table = script("workloads_table")
    from workloads.registry import get_spec

    spec = get_spec("cnn")
    facts = tmp_path / "facts.json"
    trial = {"submission": "nadamw", "workload": "cnn", "framework": "pytorch"}
    facts.write_text(json.dumps({"trials": [
        {**trial, "study": s, "time_to_target": t, "validation_target": spec.validation_target}
        for s, t in enumerate([30.0, 40.0, None])] + [  # a run at another target is left out
        {**trial, "study": 9, "time_to_target": 1.0, "validation_target": spec.validation_target + 0.01}]}))
    rows = workloads_table.facts_times([str(facts)], {"cnn": spec})
    older = [{**trial, "time_to_target": 99.0, "mark": "§"}]
    assert workloads_table.measured(rows + older, "cnn", "pytorch") == "35 s (2/3)"
    assert workloads_table.measured(older, "cnn", "pytorch") == "99 s (1/1) §"
    assert workloads_table.measured(rows, "cnn", "jax") == "not measured"


def test_the_performance_tables_match_their_recorded_runs():
    for section in ("cpu", "gpu", "jax-pytorch"):
        check_passes("benchmarks/harness_overhead_table.py", "--section", section)


def test_the_trial_accounts_table_matches_the_recorded_leaderboard_runs():
    check_passes("scripts/accounts_table.py")


def test_the_trial_accounts_table_takes_shares_of_each_trials_total(tmp_path):
    accounts_table = script("accounts_table")

    def trial(path, workload, step, **seconds):
        accounts = {"submission": 0.0, "eval": 0.0, "setup": 0.0, "checkpoint": 0.0, "logging": 0.0,
                    "other": 0.0, **seconds}
        final = {f"accumulated_{a}_time": s for a, s in accounts.items()}
        final.update(global_step=step, total_duration=sum(accounts.values()))
        path.mkdir(parents=True)
        (path / "meta.json").write_text(json.dumps({"workload": workload, "framework": "pytorch", "final": final}))

    trial(tmp_path / "a", "cnn", 10, submission=90.0, eval=8.0, setup=1.0, other=1.0)  # harness 2%
    trial(tmp_path / "b", "cnn", 10, submission=45.0, eval=1.0, setup=2.0, checkpoint=2.0)  # 8%
    trial(tmp_path / "c", "cnn", 0, setup=5.0)  # failed before a step: left out
    (row,) = accounts_table.rows(tmp_path)
    assert row["trials"] == 2 and row["wall"] == 75.0
    assert abs(row["harness"] - 0.05) < 1e-12 and abs(row["harness_max"] - 0.08) < 1e-12
    assert abs(row["shares"]["eval"] - (0.08 + 0.02) / 2) < 1e-12
    assert "| `cnn` | pytorch | 2 | 75 s |" in accounts_table.table([tmp_path])


def test_a_benchmarks_table_option_prints_and_writes_only_between_its_markers(tmp_path, capsys):
    import argparse

    from algobench.doc_sections import add_table_options, labelled_runs, printed_recorded_table

    doc, markers = tmp_path / "performance.md", ("<!-- t: start -->", "<!-- t: end -->")
    doc.write_text(f"before\n{markers[0]}\nold\n{markers[1]}\nafter\n")
    record = tmp_path / "run.json"
    record.write_text(json.dumps({"runs": [{"label": "A", "x": 1}, {"label": "B", "x": 2}]}))
    parser = argparse.ArgumentParser()
    add_table_options(parser, doc)
    table = labelled_runs(lambda run: f"| x | {run['x']} |")
    assert not printed_recorded_table(parser.parse_args([]), doc, markers, table)
    assert printed_recorded_table(parser.parse_args(["--table", str(record)]), doc, markers, table)
    assert "**A.** | x | 1 |\n\n**B.** | x | 2 |" in capsys.readouterr().out
    assert "old" in doc.read_text()  # printed only
    printed_recorded_table(parser.parse_args(["--table", str(record), "--write"]), doc, markers, table)
    assert doc.read_text() == f"before\n{markers[0]}\n**A.** | x | 1 |\n\n**B.** | x | 2 |\n{markers[1]}\nafter\n"
