"""Run-time guards: the rules a submission must follow that the runner checks while it trains.

Each guard is cheap enough to stay on by default (`benchmarks/guard_overhead.py` measures them)
and runs off the clock. A violated guard ends the trial as failed with stop reason
`rule_violation` and a one-line reason.

- threads: no thread the submission started may still be alive when its function returns (it
  could compute while the clock is stopped, e.g. during an eval);
- model: the parameters keep the names and shapes the workload initialized (checked before every
  eval), so a submission cannot change the model;
- workload: the workload object and its class are not modified (nothing can swap `model_fn`,
  `loss_fn` or the eval path).

What cannot be tampered with by construction, and so needs no guard: the clock (the ledger bound
its time function when the harness was imported), eval data (no object a submission receives
reaches it) and queued device work (the runner waits for the device inside the submission's
account).
"""

from __future__ import annotations

import threading
from typing import Any


class RuleViolation(Exception):
    """A submission broke a rule at run time; the message says which and how."""


class Guards:
    def __init__(self, workload: Any, params: Any):
        self.workload = workload
        self.threads = threading.active_count()
        self.signature = workload.param_signature(params)
        self.workload_state = _identity(vars(workload))
        self.class_state = _class_identity(type(workload))

    def after_submission_call(self, function: str) -> None:
        """No thread started by the submission outlives its call."""
        alive = threading.active_count()
        if alive > self.threads:
            started = [t.name for t in threading.enumerate()][self.threads - alive:]
            raise RuleViolation(
                f"{function} left {alive - self.threads} thread(s) running ({', '.join(started)}); "
                "background work while the clock is stopped is not allowed")

    def before_eval(self, params: Any) -> None:
        """The model and the workload object are as the workload made them."""
        signature = self.workload.param_signature(params)
        if signature != self.signature:
            changed = sorted(set(signature) ^ set(self.signature))[:3]
            raise RuleViolation(f"the model's parameters changed names or shapes ({changed}); "
                                "a submission may not change the model")
        if _identity(vars(self.workload)) != self.workload_state or _class_identity(
                type(self.workload)) != self.class_state:
            raise RuleViolation("the workload object was modified; a submission may not change "
                                "the model, the loss, or the evaluation")


def _identity(namespace: dict) -> dict[str, int]:
    return {name: id(value) for name, value in namespace.items()}


def _class_identity(cls: type) -> list[dict[str, int]]:
    """The attributes of the class and of every base it inherits from (but `object`)."""
    return [_identity(vars(base)) for base in cls.__mro__ if base is not object]
