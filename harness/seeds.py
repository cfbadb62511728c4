"""Deterministic seeds derived from a user-visible base seed and names (never Python's `hash`)."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(*keys: int | str) -> int:
    """A 31-bit seed from integers and strings; the same keys always give the same seed."""
    entropy = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    if any(e < 0 for e in entropy):
        raise ValueError(f"seed keys must be non-negative, got {keys}")
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0] >> 1)


def trial_seed(base_seed: int, study: int, trial: int) -> int:
    """The seed of one trial: the same for both frameworks, so both start from identical weights."""
    return derive_seed(base_seed, "trial", study, trial)
