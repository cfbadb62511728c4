"""CPU steal: the share of a run's CPU time that the hypervisor gave to other virtual machines.

On a virtual machine a vCPU can be runnable while its physical core serves another guest: the
wall clock advances and no work is done. The guest kernel counts that time per CPU as *steal*
(`/proc/stat`, read through psutil). A timed run with much steal measured the host's neighbours
as well as the algorithm; the harness records the fraction in every trial's `meta.json` and the
benchmarks print it, so that such a run can be told apart and repeated (docs/log_format.md).

It hits frameworks unequally: a framework whose threads sleep between operations (XLA:CPU) gives its
vCPUs back to the host at every wait and waits again to get them, where one whose threads spin
(PyTorch's OpenMP) keeps them (docs/tuning.md, "Timing on a shared machine").
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil

#: Above this steal fraction a time is flagged as measured on a contended host.
CONTENDED = 0.05


def _steal_and_total(cores: list[int]) -> tuple[float, float] | None:
    """Seconds of steal and of all CPU time since boot, summed over `cores`; None where the OS
    does not count steal (anything but Linux)."""
    per_cpu = psutil.cpu_times(percpu=True)
    if not per_cpu or not hasattr(per_cpu[0], "steal"):
        return None
    steal = total = 0.0
    for core in cores:
        times = per_cpu[core]._asdict()
        # guest time is already counted in user and nice (psutil's Linux fields)
        total += sum(v for k, v in times.items() if k not in ("guest", "guest_nice"))
        steal += times["steal"]
    return steal, total


class StealMeter:
    """Steal fraction on `cores` (default: the cores this process may run on) since it was made."""

    def __init__(self, cores: Iterable[int] | None = None):
        self.cores = sorted(os.sched_getaffinity(0) if cores is None else cores)
        self.start = _steal_and_total(self.cores)

    def fraction(self) -> float | None:
        """Steal over all CPU time of the cores since the meter was made, in [0, 1]; None where
        steal is not counted or no CPU time has passed."""
        now = _steal_and_total(self.cores)
        if self.start is None or now is None:
            return None
        steal, total = now[0] - self.start[0], now[1] - self.start[1]
        return round(steal / total, 4) if total > 0 else None


def of_trial(meta: dict) -> float | None:
    """The steal fraction a trial's `meta.json` records (`final.host_steal_fraction`); None for a
    trial without one (unfinished, or run before it was recorded) or with a malformed value."""
    steal = (meta.get("final") or {}).get("host_steal_fraction")
    return float(steal) if isinstance(steal, (int, float)) else None


def is_contended(fraction: float | None) -> bool:
    """Whether a time measured with this steal fraction is flagged (unknown steal is not)."""
    return fraction is not None and fraction >= CONTENDED


def describe(fraction: float | None) -> str:
    """A short note for a printed time: empty unless `is_contended(fraction)`."""
    if not is_contended(fraction):
        return ""
    return f"host steal {100 * fraction:.0f}% (contended host: repeat to time it)"


def largest(fractions: Iterable[float | None]) -> str:
    """The largest known fraction as a percentage for a table cell, "-" when none is known."""
    known = [f for f in fractions if f is not None]
    return f"{100 * max(known):.0f}%" if known else "-"
