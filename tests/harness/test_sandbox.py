"""The submission process's sandbox (harness/sandbox.py): where bwrap works, a sandboxed python
cannot write outside its scratch folder, reach the network or read another trial's folder, and
its children die with it; where it does not, the reason is what meta.json records."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import sandbox


def _sandboxed_python(policy: sandbox.Policy, code: str) -> subprocess.CompletedProcess:
    argv, note = sandbox.command(policy, [sys.executable, "-c", code])
    assert not note.startswith("unsandboxed")
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture
def trial_dirs(tmp_path):
    """A results folder with this trial's and a sibling trial's folders, a data cache with a
    training and a validation split, and the trial's scratch folder."""
    status = sandbox.status()
    if not status.available:
        pytest.skip(f"no sandbox on this machine: {status.meta}")
    results = tmp_path / "results"
    (results / "trial_0").mkdir(parents=True)
    (results / "trial_1").mkdir()
    (results / "trial_1" / "meta.json").write_text('{"status": "completed"}')
    data = tmp_path / "cache"
    data.mkdir()
    (data / "train.npy").write_text("training split")
    (data / "validation.npy").write_text("held out")
    scratch = sandbox.prepare_scratch(tmp_path / "scratch")
    policy = sandbox.Policy(scratch=scratch, readable=(data / "train.npy",), hidden=(results, data),
                            cores=(0,))
    return policy, results, data, scratch


def test_a_sandboxed_process_writes_only_its_scratch_folder(trial_dirs, tmp_path):
    policy, results, _, scratch = trial_dirs
    code = f"""
import pathlib, tempfile
pathlib.Path({str(scratch / 'weights.bin')!r}).write_text('kept for this trial')
tempfile.NamedTemporaryFile(delete=False).write(b'x')  # TMPDIR is the scratch folder
for target in {[str(tmp_path / 'next_trial.bin'), str(results / 'trial_1' / 'meta.json'),
                 str(Path.home() / 'algobench_sandbox_probe')]!r}:
    try:
        open(target, 'w').write('forged')
        print('WROTE', target)
    except OSError as err:
        print('refused', err.errno)
"""
    done = _sandboxed_python(policy, code)
    assert done.returncode == 0, done.stderr
    assert "WROTE" not in done.stdout and done.stdout.count("refused") == 3
    assert (scratch / "weights.bin").read_text() == "kept for this trial"
    assert not (tmp_path / "next_trial.bin").exists()
    assert (results / "trial_1" / "meta.json").read_text() == '{"status": "completed"}'
    sandbox.prepare_scratch(scratch)  # the next trial starts from an empty scratch folder
    assert list(scratch.iterdir()) == []


def test_a_sandboxed_process_reads_its_training_split_but_no_other_trial_or_split(trial_dirs):
    policy, results, data, _ = trial_dirs
    code = f"""
print(open({str(data / 'train.npy')!r}).read())
import os
for target in {[str(data / 'validation.npy'), str(results / 'trial_1' / 'meta.json')]!r}:
    try:
        open(target).read()
        print('READ', target)
    except OSError as err:
        print('refused', err.errno)
print(sorted(os.listdir({str(results)!r})))
"""
    done = _sandboxed_python(policy, code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "training split"
    assert lines[1:3] == ["refused 2", "refused 2"] and lines[3] == "[]"


def test_a_sandboxed_process_has_no_network(trial_dirs):
    policy = trial_dirs[0]
    server = socket.create_server(("127.0.0.1", 0))  # listening on this machine, outside
    port = server.getsockname()[1]
    code = f"""
import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=5)
    print('CONNECTED')
except OSError as err:
    print('refused', type(err).__name__)
"""
    try:
        done = _sandboxed_python(policy, code)
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused")


def test_a_data_parallel_policy_shares_the_network_and_its_rendezvous_folder(trial_dirs, tmp_path):
    """A data-parallel training process (`share_net`, `shared`) reaches a listener on the host and
    writes into its shared folder, inside a hidden one; the default policy still has no network
    (the test above), and meta.json's `sandbox` records the shared network."""
    policy, results, _, _ = trial_dirs
    rendezvous = tmp_path / "dp" / "trial" / "group"
    rendezvous.mkdir(parents=True)
    (tmp_path / "dp" / "other_trial").mkdir()
    shared = dataclasses.replace(policy, hidden=(*policy.hidden, tmp_path / "dp"),
                                 shared=(rendezvous,), share_net=True)
    args = sandbox.bwrap_args(shared)
    assert args.index("--share-net") > args.index("--unshare-all")
    assert args[args.index(str(rendezvous.resolve())) - 1] == "--bind"
    assert "--share-net" not in sandbox.bwrap_args(policy)
    server = socket.create_server(("127.0.0.1", 0))
    code = f"""
import os, socket
socket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=5)
print('CONNECTED')
open({str(rendezvous / 'store')!r}, 'w').write('rank 0')
print(os.listdir({str(tmp_path / 'dp')!r}))
"""
    try:
        argv, note = sandbox.command(shared, [sys.executable, "-c", code])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["CONNECTED", "['trial']"]  # the other trial's is hidden
    assert (rendezvous / "store").read_text() == "rank 0"
    assert note.endswith("; " + sandbox.SHARED_NETWORK_NOTE)
    assert sandbox.command(policy, ["true"])[1] == sandbox.status().meta


def test_the_sandbox_pins_the_trials_cores_and_its_children_die_with_it(trial_dirs):
    policy, _, _, scratch = trial_dirs
    code = f"""
import os, subprocess, sys, time
print(sorted(os.sched_getaffinity(0)), flush=True)
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
open({str(scratch / 'child')!r}, 'w').write('started')
time.sleep(600)
"""
    argv, _ = sandbox.command(policy, [sys.executable, "-c", code])
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "[0]"
        deadline = time.monotonic() + 60
        while not (scratch / "child").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        sleepers = _sleepers()
        assert sleepers, "the sandboxed child did not start"
        os.kill(process.pid, signal.SIGKILL)  # the harness kills the sandbox at the trial's end
        process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while set(sleepers) & set(_sleepers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not set(sleepers) & set(_sleepers()), "a child outlived its sandbox"
    finally:
        if process.poll() is None:
            process.kill()


def _sleepers() -> list[int]:
    """PIDs of this test's sandboxed `time.sleep(600)` children."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"import time; time.sleep(600)" in cmdline:
                found.append(int(entry.name))
    return found


def test_without_bwrap_the_trial_runs_unsandboxed_and_says_why(monkeypatch, tmp_path):
    sandbox.status.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        argv, note = sandbox.command(sandbox.Policy(scratch=tmp_path, cores=(0, 1)), ["python", "x.py"])
        assert argv == ["taskset", "-c", "0,1", "python", "x.py"]
        assert note == "unsandboxed: bwrap is not installed (Debian package bubblewrap: apt-get install bubblewrap)"
    finally:
        sandbox.status.cache_clear()


def test_when_bwrap_cannot_make_namespaces_its_error_is_the_reason(monkeypatch):
    sandbox.status.cache_clear()
    monkeypatch.setattr(sandbox, "_probe_args", lambda: [sys.executable, "-c",
                        "import sys; sys.exit('bwrap: No permissions to creating new namespace')"])
    try:
        note = sandbox.status().meta
        assert note.startswith("unsandboxed: bwrap cannot create its namespaces here (bwrap: No "
                               "permissions to creating new namespace)")
    finally:
        sandbox.status.cache_clear()
