"""The statistics of `prefbuild repro`, in numpy only: mean ± sd and t-intervals over seeds, Spearman's ρ with a
percentile-bootstrap interval over pairs.

Over seeds the interval is Student's t (two-sided 95 %, n − 1 degrees of freedom): with 3 seeds its half-width is
4.30 · sd / √3 ≈ 2.5 sd, so only large effects clear it. The t quantiles are tabulated (scipy is not a dependency).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

CONFIDENCE = 0.95
# Two-sided 95 % Student t quantiles t_{0.975, df} for df = 1..30 (beyond 30 the normal 1.96 is within 2 %)
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
BOOTSTRAP_RESAMPLES = 2000


def t_quantile(df: int) -> float:
    """t_{0.975, df}: the half-width of a two-sided 95 % interval in standard errors."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T_975[df - 1] if df <= len(_T_975) else 1.96


def measured(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample sd and the 95 % t-interval of per-seed `values` (None values are left out and counted).

    With one value the sd and the interval are None: one seed gives no uncertainty.
    """
    kept = [float(value) for value in values if value is not None]
    n = len(kept)
    result: dict[str, Any] = {"mean": None, "sd": None, "ci95": None, "n": n, "values": kept}
    if n == 0:
        return result
    mean = float(np.mean(kept))
    result["mean"] = mean
    if n >= 2:
        sd = float(np.std(kept, ddof=1))
        half = t_quantile(n - 1) * sd / math.sqrt(n)
        result["sd"] = sd
        result["ci95"] = [mean - half, mean + half]
    return result


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as Spearman's ρ needs)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(unique) < len(values):
        sums = np.zeros(len(unique))
        np.add.at(sums, inverse, ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    x = x - x.mean()
    y = y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / denominator if denominator > 0 else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's r of the average ranks); None when either side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    return _pearson(_ranks(x), _ranks(y))


def bootstrap_spearman(
    x: Sequence[float], y: Sequence[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """Spearman's ρ with a percentile-bootstrap 95 % interval (pairs resampled with replacement).

    Resamples in which one side is constant (ρ undefined) are left out and counted in `undefined_resamples`.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rho = spearman(x, y)
    rng = np.random.default_rng(seed)
    draws = []
    if rho is not None:
        for _ in range(resamples):
            index = rng.integers(0, len(x), len(x))
            value = spearman(x[index], y[index])
            if value is not None:
                draws.append(value)
    low, high = np.quantile(draws, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2]) if draws else (None, None)
    return {
        "rho": rho,
        "ci95": None if low is None else [float(low), float(high)],
        "pairs": len(x),
        "resamples": resamples,
        "undefined_resamples": resamples - len(draws) if rho is not None else resamples,
    }
