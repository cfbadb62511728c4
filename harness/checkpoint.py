"""Trial checkpoints: model (canonical NumPy), optimizer state (the backend's format) and the
runner's own state (step, clock, data position), written so that a crash never leaves a half one.

Layout: `checkpoint/step_<N>/` holds the files and, written last, `files.json`: the size and
SHA-256 of every other file in it. `checkpoint/LATEST` names the newest one and is replaced
atomically only after its folder is fully written; then all but the two newest folders are
removed, so that a checkpoint found damaged later (a truncated file, a LATEST naming a folder that
is gone) has an older one to fall back to (`choose`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.logs import CHECKPOINT_DIR, atomic_write_json, atomic_write_text

LATEST = "LATEST"
PARAMS_FILE = "params.npz"
STATE_FILE = "trial_state.json"
MANIFEST_FILE = "files.json"
KEEP = 2  # checkpoints kept: the newest, and one to fall back to


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)


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
    atomic_write_json(folder / MANIFEST_FILE, {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in _files(folder)})
    atomic_write_text(root / LATEST, folder.name + "\n")
    for old in _step_folders(root)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _step_folders(root: Path) -> list[Path]:
    """The checkpoint folders under `root`, newest first."""
    return sorted((p for p in root.glob("step_*") if p.is_dir()), reverse=True)


def problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (missing, incomplete, a file truncated or
    changed), or None when it can. Checked against its files.json; a folder written before
    checkpoints had one is checked by reading its state and parameters."""
    if not folder.is_dir():
        return f"{folder.name}: missing"
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (ValueError, UnicodeDecodeError):
            return f"{folder.name}: {MANIFEST_FILE} unreadable"
        for name, recorded in sorted(manifest.items()):
            path = folder / name
            if not path.is_file():
                return f"{folder.name}: {name} missing"
            if path.stat().st_size != recorded["size"] or _sha256(path) != recorded["sha256"]:
                return f"{folder.name}: {name} truncated or changed since it was written"
        return None
    try:  # no files.json: incomplete, or written by an older version
        json.loads((folder / STATE_FILE).read_text())
        load_params(folder)
    except FileNotFoundError as err:
        return f"{folder.name}: {Path(err.filename).name} missing (incomplete)"
    except (ValueError, UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile) as err:
        return f"{folder.name}: unreadable ({type(err).__name__})"
    return None


def choose(trial_dir: Path) -> tuple[Path | None, list[str]]:
    """The checkpoint to resume a trial from: the one LATEST names, else (it is damaged or gone)
    the newest other one that is whole; None when there is none. Also the problems of those
    passed over, one line each, for the trial's log."""
    root = Path(trial_dir) / CHECKPOINT_DIR
    pointer = root / LATEST
    candidates = _step_folders(root)
    if pointer.exists():
        named = root / pointer.read_text(errors="replace").strip()
        candidates = [named] + [c for c in candidates if c != named]
    skipped = []
    for folder in candidates:
        reason = problem(folder)
        if reason is None:
            return folder, skipped
        skipped.append(reason)
    return None, skipped


def latest(trial_dir: Path) -> Path | None:
    """The checkpoint folder a trial resumes from (`choose`), or None."""
    return choose(trial_dir)[0]


def load_trial_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / STATE_FILE).read_text())


def load_params(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / PARAMS_FILE) as data:
        return {k: data[k] for k in data.files}


def remove(trial_dir: Path) -> None:
    shutil.rmtree(Path(trial_dir) / CHECKPOINT_DIR, ignore_errors=True)
