"""Run one trial from plain arguments: the function `algobench run` calls, and that study
executors call in a process of its own per trial."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from harness import backends, checker, loader, search_space
from harness.logs import (HPARAMS_FILE, META_FILE, CorruptLogError, DiskFullError,
                          is_disk_full, read_json)
from harness.provenance import provenance
from harness.seeds import derive_seed, trial_seed
from workloads.registry import get_spec


def trial_folder(out: Path | str, submission: str, ruleset: str, framework: str, workload: str,
                 study: int, trial: int) -> Path:
    return Path(out) / submission / ruleset / framework / workload / f"study_{study}" / f"trial_{trial}"


def ruleset_of(submission_dir: Path | str) -> str:
    """`external` when the package ships a search space, else `self` (self-tuning)."""
    return "external" if (Path(submission_dir) / loader.SEARCH_SPACE_FILE).exists() else "self"


def hyperparameters_for(submission_dir: Path | str, ruleset: str, base_seed: int, study: int,
                        trial: int) -> dict[str, Any]:
    if ruleset == "self":
        return {}
    space = search_space.load(Path(submission_dir) / loader.SEARCH_SPACE_FILE)
    return search_space.trial_point(space, derive_seed(base_seed, "study", study), trial)


def trial_spec(workload: str, spec_overrides: dict | None = None):
    """The spec a trial runs: the registry's, with `spec_overrides` replacing fields (target
    setting runs with an unreachable target and a budget of its own); a workload still without
    targets only with overrides."""
    spec = get_spec(workload, pending_ok=bool(spec_overrides))
    return dataclasses.replace(spec, **(spec_overrides or {}))


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


def run_trial(submission_dir: str, workload: str, framework: str, out: str, *, base_seed: int = 0,
              study: int = 0, trial: int = 0, ruleset: str | None = None,
              hyperparameters: dict | None = None, threads: int | None = None,
              data_dir: str | None = None, keep_checkpoint: bool = True,
              spec_overrides: dict | None = None, protocol: str = "",
              on_eval: Callable[[dict], None] | None = None) -> dict:
    """Train one trial to its end (resuming it when its folder holds a checkpoint) and return its
    meta.json. A trial that already ended is not run again: its meta.json is returned.

    A full disk raises `DiskFullError`: the trial stays `running`, to resume from its last
    checkpoint once there is space.

    `spec_overrides` replaces fields of the workload's spec for this trial (target setting runs
    with an unreachable target and its own budget); meta.json records them, and the leaderboard
    `protocol` the trial runs under, if any."""
    submission_dir = str(Path(submission_dir).resolve())
    spec = trial_spec(workload, spec_overrides)
    ruleset = ruleset or ruleset_of(submission_dir)
    module = loader.load_submission(submission_dir, framework)
    if hyperparameters is None:
        hyperparameters = hyperparameters_for(submission_dir, ruleset, base_seed, study, trial)
    name = Path(submission_dir).name
    folder = trial_folder(out, name, ruleset, framework, workload, study, trial)
    hashes = {"submission_code_sha256": code_hash(submission_dir),
              "workload_spec_sha256": spec_hash(spec)}
    check_reusable(folder, hyperparameters, *hashes.values())
    done = finished_meta(folder)
    if done is not None:
        return done
    cores = backends.pin_cores(threads)  # under torchrun: this rank's share of the cores
    backend = backends.load_backend(framework)
    backend.configure_threads(len(cores))
    from harness.runner import Trial, TrialConfig  # imports the data layer; after pinning

    config = TrialConfig(
        spec=spec, framework=framework, submission_name=name, submission_dir=submission_dir,
        ruleset=ruleset, study=study, trial=trial, seed=trial_seed(base_seed, study, trial),
        hyperparameters=hyperparameters, folder=folder, data_dir=data_dir,
        keep_checkpoint=keep_checkpoint, meta_extra={"spec_overrides": spec_overrides or {},
                                                   **({"protocol": protocol} if protocol else {})})
    rank, _ = backend.init_distributed()  # joins torchrun's process group, if launched by it
    try:
        device = backend.device_info()
        meta = provenance(framework, len(cores), device["num_devices"], device["accelerator"])
        meta.update(base_seed=base_seed, **hashes)
        return Trial(config, module, backend, on_eval=on_eval, meta=meta, time_fn=backend.time_fn(),
                     main_process=rank == 0).run()
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(folder, err) from None
        raise
    finally:
        backend.shutdown_distributed()
