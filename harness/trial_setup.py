"""The setup of a trial, before its timed loop (harness/runner.py): the submission side loaded, the
eval sets, the host calibration, the batch size, the model and the optimizer state, or a
checkpoint's. Off the clock (the `setup` account), but for the submission's own calls, which are
timed as in the loop. Each function takes the `TrialRunner` it fills in (`trial`)."""

from __future__ import annotations

from pathlib import Path

from harness import calibration, checkpoint, loader
from harness.guards import Guards, RuleViolation
from harness.seeds import derive_seed
from harness.submission_side import InProcess
from workloads.data import eval_batches, train_eval_subset
from workloads.metrics import METRICS


def setup(trial, splits: dict | None, resume_from: Path | None, stream_position: int) -> None:
    """Everything `trial` needs before its loop. A failure of the submission's side here is kept
    in `trial._setup_error`, raised again when the trial runs, to be logged; a submission that
    cannot be imported (`SubmissionError`) is bad input, raised now."""
    spec, task, side = trial.spec, trial.task, trial.side
    trial._setup_error = None
    trial.batch_size, trial.has_prepare = None, False
    try:
        with trial.ledger.charge("submission"):  # the import (a module given here: imported)
            described = side.load()
        trial.has_prepare = bool(described["has_prepare"])
    except loader.SubmissionError:
        raise
    except Exception as err:
        trial._setup_error = err
    trial.log.write_hparams(task.hyperparameters)
    trial.workload = side.workload  # the harness evaluates on this one
    if splits is None:
        from workloads.sources import load_source

        splits = load_source(spec.data_source, task.data_dir)
    trial.eval_sets = eval_sets(splits, spec.eval_batch_size)
    trial.metric_fn = METRICS[spec.metrics]
    trial.guards = None
    trial.eval_results = [  # (step, metrics) of every eval so far, as AlgoPerf passes them
        (r["global_step"], {k: v for k, v in r.items() if "/" in k and v is not None})
        for r in trial.log.rows if not r.get("snapshot")]
    trial._eval_results_sent = 0  # how many of them the submission side has
    if trial.calibration is None and trial.calibrate and not resume_from:
        side.freeze()  # a thread the import started must not slow the host's measurement
        trial.calibration = host_calibration(trial.time_fn, trial.calibration_reference)
    scale = calibration.time_scale(trial.calibration)
    trial.budget_sec = trial.reference_budget_sec * scale
    trial.eval_period_sec = spec.eval_period_sec * scale
    trial.snapshot_period_sec = spec.snapshot_period_sec * scale
    if trial._setup_error is None:
        try:
            _setup_submission(trial, splits["train"], resume_from, stream_position)
        except loader.SubmissionError:
            raise
        except RuleViolation as violation:
            trial._setup_error = violation
        except Exception as err:
            trial._setup_error = err
    trial._write_meta("running", None)


def eval_sets(splits: dict, batch_size: int) -> dict[str, list[dict]]:
    """The batches the harness evaluates, per split: the train subset (as many examples as the
    validation split), the validation split and the test split."""
    n_eval = len(splits["validation"]["targets"])
    return {"train": list(eval_batches(train_eval_subset(splits["train"], n_eval), batch_size)),
            "validation": list(eval_batches(splits["validation"], batch_size)),
            "test": list(eval_batches(splits["test"], batch_size))}


def _setup_submission(trial, train_split: dict, resume_from: Path | None, stream_position: int) -> None:
    """The submission side's batch size, stream, model and optimizer state (or a checkpoint's)."""
    side, seed = trial.side, trial.task.seed
    with trial.ledger.charge("submission"):
        answer = side.get_batch_size()
    trial.batch_size = int(answer["batch_size"])
    if answer["batch_size_rule"]:  # an AlgoPerf file's scaled batch size (harness/loader.py)
        trial.meta["batch_size_rule"] = dict(answer["batch_size_rule"])
    side.start_training(train_split, trial.batch_size, derive_seed(seed, "data"),
                        stream_position, derive_seed(seed, "init"))
    if trial.use_guards and isinstance(side, InProcess):
        trial.guards = Guards(side.workload, side.params)
    skipped = {"skipped_checkpoints": trial.skipped_checkpoints} if trial.skipped_checkpoints else {}
    if resume_from:
        with trial.ledger.charge("checkpoint"):
            restore(side, resume_from, derive_seed(seed, "optimizer", 0))
        trial._event("resume", checkpoint=resume_from.name, **skipped)
    else:
        trial._event("start", **skipped)
        with trial.ledger.charge("submission"):
            side.init_optimizer_state(derive_seed(seed, "optimizer"))
        trial._guard("init_optimizer_state")


def host_calibration(time_fn, reference_file: str) -> dict:
    """The host speed record (harness/calibration.py), in the setup account."""
    groups = calibration.measure_cores(time_fn)
    reference = calibration.reference_seconds(reference_file)
    return calibration.record(groups, reference, calibration.host_id())


def restore(side, folder: Path, seed: int) -> None:
    """A checkpoint's parameters and optimizer state (the files its backend wrote) into `side`."""
    kept = (checkpoint.PARAMS_FILE, checkpoint.STATE_FILE, checkpoint.MANIFEST_FILE)
    optimizer_files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
                       if p.is_file() and p.name not in kept}
    side.restore(checkpoint.load_params(folder), optimizer_files, seed)
