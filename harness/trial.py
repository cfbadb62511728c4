"""Run one trial (a `harness.task.TrialTask`): the function `algobench run` calls, and that the
executors call in a process of its own per trial; and the rule for reusing a trial's folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from harness import backends, checker, loader, process_control
from harness.logs import (HPARAMS_FILE, META_FILE, CorruptLogError, DiskFullError,
                          is_disk_full, read_json)
from harness.provenance import provenance
from harness.task import TrialTask

# "1": the trials of this process run without the host calibration (harness/calibration.py),
# unscaled, and meta.json's time_scale_note says "unscaled: no calibration (skipped)". For the
# test suite only (tests/conftest.py), whose trials do not check it and would each pay about half a
# second for it; never for a measured trial. `run_trial` reads it before the submission is
# imported, so a submission cannot set it for its own trial.
SKIP_CALIBRATION = "ALGOBENCH_SKIP_CALIBRATION"
ISOLATIONS = ("separate-process", "in-process")


def spec_hash(spec) -> str:
    """A content hash of every field of a workload spec (model config, data, targets, budget)."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    text = json.dumps(fields, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for the spec's non-JSON fields: read-only mappings (model config) and enums."""
    return dict(value) if hasattr(value, "items") else str(value)


def _code_files(folder: Path) -> list[Path]:
    """The files under `folder` that can change what a submission computes: all but bytecode,
    docs and hidden files, in a fixed order."""
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix not in (".pyc", ".md")
            and not any(part == "__pycache__" or part.startswith(".")
                        for part in p.relative_to(folder).parts)]


def code_hash(submission_dir: Path | str) -> str:
    """A content hash of a submission package's files (every file but docs, bytecode and hidden
    ones), and of `submissions/common` too when the package imports it: a trial is reused only by
    the code that ran it."""
    folder = Path(submission_dir).resolve()
    files = [(p.relative_to(folder).as_posix(), p) for p in _code_files(folder)]
    if any(checker.SHARED_PACKAGE in p.read_text(errors="replace")
           for _, p in files if p.suffix == ".py"):
        common = Path(__file__).resolve().parent.parent / "submissions" / "common"
        files += [(f"submissions/common/{p.relative_to(common).as_posix()}", p)
                  for p in _code_files(common)]
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class TrialMismatchError(ValueError):
    """A trial folder that holds another trial than the one asked for; the message is one line
    naming the folder and the fix."""


def check_reusable(folder: Path, hyperparameters: dict, submission_code: str, workload_spec: str) -> None:
    """The one rule for reusing a trial folder (`run`, `tune`, `set-targets`): a finished trial is
    reused, and an interrupted one resumed, only when its hyperparameters, its submission's code
    hash and its workload's spec hash are the ones asked for; TrialMismatchError otherwise, before
    anything is written. A meta.json written before the hashes were recorded is checked on its
    hyperparameters only."""
    folder = Path(folder)
    recorded: dict[str, Any] = {}
    for name in (HPARAMS_FILE, META_FILE):
        if (folder / name).exists():
            try:
                recorded[name] = read_json(folder / name)
            except CorruptLogError as err:
                raise TrialMismatchError(f"{err}; move {folder} away to run this trial "
                                         "again") from None
    meta = recorded.get(META_FILE) or {}
    differences = []
    if HPARAMS_FILE in recorded and recorded[HPARAMS_FILE] != dict(hyperparameters):
        differences.append(f"other hyperparameters ({_changed(recorded[HPARAMS_FILE], hyperparameters)})")
    if meta.get("submission_code_sha256") not in (None, submission_code):
        differences.append("other submission code (its files changed since)")
    if meta.get("workload_spec_sha256") not in (None, workload_spec):
        differences.append("another version of the workload's spec")
    if differences:
        what = "a finished" if has_ended(meta) else "an interrupted"
        raise TrialMismatchError(
            f"{folder}: holds {what} trial run with {' and '.join(differences)}; nothing was "
            "written: use another --out, or move that folder away to run the trial again")


def _changed(before: dict, now: dict) -> str:
    keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    return ", ".join(f"{k} {before.get(k)!r} there, {now.get(k)!r} here" for k in keys[:3]) + (
        ", ..." if len(keys) > 3 else "")


def has_ended(meta: dict | None) -> bool:
    """Whether a trial's meta.json says it ended (any status but `running`)."""
    return meta is not None and meta.get("status") not in (None, "running")


def finished_meta(folder: Path) -> dict | None:
    """The meta.json of a trial that already ended, else None."""
    meta_path = folder / META_FILE
    meta = read_json(meta_path) if meta_path.exists() else None
    return meta if has_ended(meta) else None


def run_trial(task: TrialTask, *, on_eval: Callable[[dict], None] | None = None, spec=None,
              cores: list[int] | None = None, isolation: str = "separate-process",
              eval_steps: tuple[int, ...] = ()) -> dict:
    """Train one trial to its end (resuming it when its folder holds a checkpoint) and return its
    meta.json. A trial that already ended is not run again: its meta.json is returned.

    A full disk raises `DiskFullError`: the trial stays `running`, to resume from its last
    checkpoint once there is space.

    The caller has set up this process: its cores and, for JAX, its host devices (`algobench run`
    with `backends.pin_cores`, an executor with the trial process's environment); a data-parallel
    rank takes its own share of those cores here. A caller that already holds the task's `spec`
    and its pinned `cores` passes them (`algobench run`), so neither is made twice. meta.json
    records the task's `spec_overrides` (target setting runs with an unreachable target and its
    own budget) and the leaderboard `protocol` the trial runs under, if any.

    `isolation`: "separate-process" (the default) runs the submission in a process of its own,
    sandboxed where the machine allows (harness/submission_process.py); "in-process" imports and
    runs it in this process. In a data-parallel PyTorch trial each rank has its own submission
    process, and those processes form their own group (harness/data_parallel_process.py; their
    sandboxes share the host's network). meta.json records which ran (`isolation`, `sandbox`). `eval_steps`: evaluate at these steps instead of by
    the clock (`TrialRunner`'s, for comparing runs step by step)."""
    if isolation not in ISOLATIONS:
        raise ValueError(f"unknown isolation {isolation!r}; choose one of {', '.join(ISOLATIONS)}")
    spec = spec if spec is not None else task.spec()
    calibrate = os.environ.get(SKIP_CALIBRATION) != "1"  # read before the submission's code runs
    hashes = {"submission_code_sha256": code_hash(task.submission_dir),
              "workload_spec_sha256": spec_hash(spec)}
    check_reusable(task.folder, task.hyperparameters, *hashes.values())
    done = finished_meta(task.folder)
    if done is not None:
        return done
    if cores is None:
        cores = backends.pin_cores(None)  # under torchrun: this rank's share of the cores
    process_control.keep_freed_memory()  # as in the submission process: the same allocator from step 1
    process_control.ignore_jax_fork_warning()
    backend = backends.load_backend(task.framework)
    backend.configure_threads(len(cores))
    from harness.runner import TrialRunner  # imports the data layer; after pinning
    from harness.data_parallel_process import DataParallelProcess
    from harness.submission_process import SubmissionProcess

    rank, world = backend.init_distributed()  # joins torchrun's process group, if launched by it
    submission = None
    try:
        device = backend.device_info()
        meta = provenance(task.framework, len(cores), device["num_devices"], device["accelerator"])
        meta.update(base_seed=task.base_seed, **hashes)
        if isolation == "separate-process" and world == 1:
            submission = SubmissionProcess(task, backend, spec, cores)
        elif isolation == "separate-process":
            submission = DataParallelProcess(task, backend, spec, cores, rank, world)
        else:
            submission = loader.load_submission(task.submission_dir, task.framework)
        return TrialRunner(task, spec, submission, backend, on_eval=on_eval, meta=meta,
                           time_fn=backend.time_fn(), main_process=rank == 0,
                           calibrate=calibrate, eval_steps=eval_steps).run()
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(task.folder, err) from None
        raise
    finally:
        if isinstance(submission, SubmissionProcess):
            submission.close()
        backend.shutdown_distributed()
