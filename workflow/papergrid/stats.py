"""Interval estimates used by claims: Student-t for means of few seeds, percentile bootstrap."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval over independent seeds.

    With three to five seeds a percentile bootstrap of the mean is too narrow (it
    cannot see more spread than the few values show); the t interval widens for
    small n. Fewer than two values give an unbounded interval.
    """
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, -math.inf, math.inf
    half = float(stats.t.ppf(0.5 + level / 2, df=v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half
