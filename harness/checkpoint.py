"""Trial checkpoints: model (canonical NumPy), optimizer state (the backend's format) and the
runner's own state (step, clock, data position), written so that a crash never leaves a half one.

Layout: `checkpoint/step_<N>/` holds the files; `checkpoint/LATEST` names the complete one and is
replaced atomically only after its folder is fully written; older folders are then removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harness.logs import CHECKPOINT_DIR, atomic_write_json, atomic_write_text

LATEST = "LATEST"
PARAMS_FILE = "params.npz"
STATE_FILE = "trial_state.json"


def save(trial_dir: Path, step: int, canonical_params: dict[str, np.ndarray], optimizer_state: Any,
         trial_state: dict[str, Any], backend) -> Path:
    root = Path(trial_dir) / CHECKPOINT_DIR
    folder = root / f"step_{step:08d}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    np.savez(folder / PARAMS_FILE, **canonical_params)
    backend.save_optimizer_state(optimizer_state, folder)
    atomic_write_json(folder / STATE_FILE, trial_state)
    atomic_write_text(root / LATEST, folder.name + "\n")
    for old in root.glob("step_*"):
        if old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def latest(trial_dir: Path) -> Path | None:
    """The complete checkpoint folder of a trial, or None."""
    pointer = Path(trial_dir) / CHECKPOINT_DIR / LATEST
    if not pointer.exists():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    return folder if (folder / STATE_FILE).exists() else None


def load_trial_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / STATE_FILE).read_text())


def load_params(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / PARAMS_FILE) as data:
        return {k: data[k] for k in data.files}


def remove(trial_dir: Path) -> None:
    shutil.rmtree(Path(trial_dir) / CHECKPOINT_DIR, ignore_errors=True)
