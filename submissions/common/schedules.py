"""Learning-rate schedules keyed to the workload's step hint, in plain Python (no framework).

Every baseline with a schedule uses one of two shapes, as AlgoPerf's baselines do: linear warmup
from 0 to the peak over `warmup_steps`, then cosine or linear decay to 0 at `step_hint`, and 0 after.
`step` counts updates from 0, so the first update runs at factor 0, as in optax and in torch's
`LambdaLR`. The JAX side builds the same shapes from optax schedules (`common/jax.py`); the tests
check that both give these numbers.
"""

from __future__ import annotations

import math

DECAYS = ("cosine", "linear")


def warmup_steps(warmup_factor: float, step_hint: int) -> int:
    """Warmup length: a fraction of the step hint, at least one step."""
    return max(1, int(warmup_factor * step_hint))


def decay_steps(warmup: int, step_hint: int) -> int:
    """Steps from the end of warmup to `step_hint`, at least one."""
    return max(1, step_hint - warmup)


def lr_factor(step: int, warmup: int, decay: int, kind: str = "cosine") -> float:
    """The learning-rate multiplier at update `step` (0-based): 0 -> 1 over `warmup` steps, then
    cosine (or linear) 1 -> 0 over `decay` steps, then 0."""
    if kind not in DECAYS:
        raise ValueError(f"decay {kind!r} is not one of {DECAYS}")
    if step < warmup:
        return step / warmup
    progress = min(step - warmup, decay) / decay
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))

