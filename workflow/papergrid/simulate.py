"""Small numeric helpers shared by the claim statistics and their simulators.

The simulators of :mod:`papergrid.calibration` draw runs tables of the shipped shape:
each experiment keeps the observed table's rows (cells, seeds) and redraws the metric
columns from a fitted model with the observed seed spread as noise. These helpers are the
pieces they have in common, vectorised so that a few hundred draws per scenario stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def pooled_sd(values: Sequence[float], groups: Sequence) -> float:
    """Within-group standard deviation pooled over groups with two or more finite values."""
    v = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    keep = np.isfinite(v)
    v, g = v[keep], g[keep]
    ss, df = 0.0, 0
    for key in np.unique(g):
        x = v[g == key]
        if x.size > 1:
            ss += float(((x - x.mean()) ** 2).sum())
            df += x.size - 1
    return math.sqrt(ss / df) if df else math.nan


def group_slopes(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of y on x within each group (groups with two or more distinct
    finite x): (group keys, slopes)."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, groups = x[keep], y[keep], groups[keep]
    keys, inv = np.unique(groups, return_inverse=True)
    n = np.bincount(inv, minlength=keys.size).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(inv, x, keys.size) / n
        my = np.bincount(inv, y, keys.size) / n
        dx = x - mx[inv]
        sxx = np.bincount(inv, dx * dx, keys.size)
        sxy = np.bincount(inv, dx * (y - my[inv]), keys.size)
        slopes = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
    return keys, slopes


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(intercept, slope, residual SD with n - 2 degrees of freedom) of y on x."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    return float(intercept), float(slope), float(math.sqrt(resid @ resid / (x.size - 2)))


def matched(keys_a: np.ndarray, a: np.ndarray, keys_b: np.ndarray, b: np.ndarray):
    """Values of two arms at the keys (seeds, say) both have, in key order."""
    common = np.intersect1d(keys_a[np.isfinite(a)], keys_b[np.isfinite(b)])
    ia = np.searchsorted(keys_a, common)
    ib = np.searchsorted(keys_b, common)
    return a[ia], b[ib]


def binomial_scale(values: Sequence[float], groups: Sequence, floor: float = 0.02) -> float:
    """kappa in SD(accuracy) = kappa * sqrt(p (1 - p)), pooled over groups whose mean p lies
    in (floor, 1 - floor): seed-to-seed spread of an accuracy shrinks towards 0 and 1, so
    noise measured at the floor would understate it at a planted effect away from it."""
    v = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    ratios, weights = [], []
    for key in np.unique(g):
        x = v[(g == key) & np.isfinite(v)]
        p = x.mean() if x.size else math.nan
        if x.size > 1 and floor < p < 1 - floor:
            ratios.append(x.var(ddof=1) / (p * (1 - p)))
            weights.append(x.size - 1)
    return math.sqrt(np.average(ratios, weights=weights)) if ratios else math.nan


def accuracy_sd(p: np.ndarray, kappa: float) -> np.ndarray:
    q = np.clip(p, 0.0, 1.0)
    return kappa * np.sqrt(q * (1 - q))
