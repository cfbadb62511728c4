"""Run one trial from plain arguments: the function `algobench run` calls, and that study
executors call in a process of its own per trial."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from harness import backends, loader, search_space
from harness.logs import META_FILE, read_json
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
              spec_overrides: dict | None = None,
              on_eval: Callable[[dict], None] | None = None) -> dict:
    """Train one trial to its end (resuming it when its folder holds a checkpoint) and return its
    meta.json. A trial that already ended is not run again: its meta.json is returned.

    `spec_overrides` replaces fields of the workload's spec for this trial (target setting runs
    with an unreachable target and its own budget); meta.json records them."""
    submission_dir = str(Path(submission_dir).resolve())
    spec = dataclasses.replace(get_spec(workload, pending_ok=bool(spec_overrides)),
                               **(spec_overrides or {}))
    ruleset = ruleset or ruleset_of(submission_dir)
    module = loader.load_submission(submission_dir, framework)
    if hyperparameters is None:
        hyperparameters = hyperparameters_for(submission_dir, ruleset, base_seed, study, trial)
    name = Path(submission_dir).name
    folder = trial_folder(out, name, ruleset, framework, workload, study, trial)
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
        keep_checkpoint=keep_checkpoint, meta_extra={"spec_overrides": spec_overrides or {}})
    rank, _ = backend.init_distributed()  # joins torchrun's process group, if launched by it
    try:
        device = backend.device_info()
        meta = provenance(framework, len(cores), device["num_devices"], device["accelerator"])
        meta["base_seed"] = base_seed
        return Trial(config, module, backend, on_eval=on_eval, meta=meta, time_fn=backend.time_fn(),
                     main_process=rank == 0).run()
    finally:
        backend.shutdown_distributed()
