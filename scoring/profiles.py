"""Performance ratios, performance profiles, the benchmark score, the variant rule and speedups.

All functions take per-workload times `t` as arrays whose last two axes are (submission, workload);
leading axes (for example bootstrap replicates) are carried through. `inf` marks an unsolved
workload.

- ratio: `r[s, w] = t[s, w] / min_s t[s, w]`; `r > tau_max` counts as unsolved (`inf`).
- profile: `rho_s(tau) = |{w : r[s, w] <= tau}| / |W|`.
- score: the area under `rho_s` on `[1, tau_max]` divided by `tau_max - 1`. `rho_s` is a step
  function, so the area is exact: every solved workload contributes `tau_max - r[s, w]`, and
  `score_s = sum_w max(0, tau_max - r[s, w]) / (|W| (tau_max - 1))`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

TAU_MAX = 4.0


def performance_ratios(times: np.ndarray, tau_max: float = TAU_MAX) -> np.ndarray:
    """`r[..., s, w] = t[..., s, w] / min_s t[..., s, w]`, with `inf` for every unsolved cell.

    A cell is unsolved when its time is infinite or its ratio exceeds `tau_max`. The fastest
    submission on a workload has ratio exactly 1 (also when the best time is 0); a workload nobody
    solved is unsolved for everybody.
    """
    times = np.asarray(times, dtype=float)
    best = times.min(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(times == best, 1.0, times / best)
    return np.where(np.isinf(times) | (ratios > tau_max), np.inf, ratios)


def performance_profile(ratios: np.ndarray, taus: Sequence[float]) -> np.ndarray:
    """`rho[..., s, k]`: the fraction of workloads with `r[..., s, w] <= taus[k]`."""
    ratios = np.asarray(ratios, dtype=float)
    taus = np.asarray(taus, dtype=float)
    return (ratios[..., None] <= taus).mean(axis=-2)


def profile_steps(ratios_of_one: Sequence[float], tau_max: float = TAU_MAX) -> list[tuple[float, float]]:
    """The corners of one submission's profile on [1, tau_max]: (tau, rho(tau)) at 1, at every
    distinct solved ratio, and at tau_max; rho is constant from each tau to the next."""
    ratios = np.asarray(ratios_of_one, dtype=float)
    taus = sorted({1.0, float(tau_max), *ratios[ratios <= tau_max].tolist()})
    rho = performance_profile(ratios[None, :], taus)[0]
    return list(zip(taus, rho.tolist()))


def benchmark_scores(ratios: np.ndarray, tau_max: float = TAU_MAX) -> np.ndarray:
    """Exact area under each submission's profile on [1, tau_max], divided by tau_max - 1.

    `score[..., s] = sum_w max(0, tau_max - r[..., s, w]) / (|W| (tau_max - 1))`; 1 means fastest
    on every workload, 0 means no workload solved within `tau_max` of the fastest.
    """
    ratios = np.asarray(ratios, dtype=float)
    n_workloads = ratios.shape[-1]
    if n_workloads == 0:
        raise ValueError("no workloads to score")
    area = np.where(ratios <= tau_max, tau_max - ratios, 0.0)
    return area.sum(axis=-1) / (n_workloads * (tau_max - 1.0))


def score_times(times: np.ndarray, tau_max: float = TAU_MAX) -> np.ndarray:
    """Benchmark scores straight from per-workload times (ratios, then the area)."""
    return benchmark_scores(performance_ratios(times, tau_max), tau_max)


def base_workloads(workloads: Sequence[str], base_of: Mapping[str, str]) -> list[str]:
    """The workloads scored under the variant rule: every non-variant and every variant's base."""
    return sorted({base_of.get(w) or w for w in workloads})


def apply_variant_rule(
    times: np.ndarray,
    workloads: Sequence[str],
    base_of: Mapping[str, str],
    tau_max: float = TAU_MAX,
) -> tuple[np.ndarray, list[str]]:
    """The AlgoPerf v0.5 variant rule: a base workload is unsolved where any of its variants is.

    A variant is unsolved for a submission when its time is infinite or its ratio exceeds
    `tau_max` (ratios taken among the submissions on that variant). As in AlgoPerf, the rule sets
    the base workload's *time* to infinity before ratios are taken on the base workloads, and
    variants are not scored as workloads of their own.

    Args:
      times: per-workload times, last axes (submission, workload) in the order of `workloads`.
      workloads: names of the last axis; must contain every base that a variant names.
      base_of: variant name -> base workload name (workloads absent or mapped to "" are bases).

    Returns:
      (times over the base workloads, their names in sorted order).
    """
    times = np.asarray(times, dtype=float)
    index = {w: i for i, w in enumerate(workloads)}
    bases = base_workloads(workloads, base_of)
    missing = [b for b in bases if b not in index]
    if missing:
        raise ValueError(f"base workloads {missing} have no column; add them as unsolved")
    unsolved = np.isinf(performance_ratios(times, tau_max))
    out = times[..., [index[b] for b in bases]].copy()
    for j, base in enumerate(bases):
        variants = [index[w] for w in workloads if base_of.get(w) == base and w != base]
        if variants:
            any_unsolved = unsolved[..., variants].any(axis=-1)
            out[..., j] = np.where(any_unsolved, np.inf, out[..., j])
    return out, bases


def geometric_mean_speedups(times: np.ndarray, baseline: int, tau_max: float = TAU_MAX) -> np.ndarray:
    """Geometric-mean speedup of every submission over submission `baseline`.

    `speedup[..., s] = exp(mean_w log(t[..., baseline, w] / t[..., s, w]))` over the workloads
    both solve (finite ratio, `r <= tau_max`); NaN where they solve none in common. Values above
    1 mean faster than the baseline.
    """
    times = np.asarray(times, dtype=float)
    solved = np.isfinite(performance_ratios(times, tau_max))
    both = solved & solved[..., baseline : baseline + 1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(both, np.log(times[..., baseline : baseline + 1, :]) - np.log(times), 0.0)
        count = both.sum(axis=-1)
        return np.where(count > 0, np.exp(logs.sum(axis=-1) / np.maximum(count, 1)), np.nan)
