import math

import numpy as np
import pytest
from scipy import stats

from papergrid.stats import mean_interval


def test_mean_interval_matches_student_t():
    values = [0.91, 0.95, 0.93]
    mean, lo, hi = mean_interval(values, 0.95)
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx((mean - half, mean + half))


def test_mean_interval_covers_truth_at_nominal_rate():
    rng = np.random.default_rng(0)
    hits = sum(
        lo <= 0.0 <= hi for _, lo, hi in (mean_interval(rng.normal(0, 1, 3)) for _ in range(2000))
    )
    assert 0.93 < hits / 2000 < 0.97


def test_single_value_gives_unbounded_interval_and_nan_ignored():
    assert mean_interval([0.5, math.nan])[1:] == (-math.inf, math.inf)
    assert math.isnan(mean_interval([])[0])


def test_difference_interval_is_welch():
    from papergrid.stats import difference_interval

    a, b = [0.8, 0.9, 0.85, 0.95], [0.5, 0.7, 0.6]
    diff, lo, hi = difference_interval(a, b, 0.95)
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (lo, hi) == pytest.approx((ci.low, ci.high))
    assert difference_interval([1.0], [0.0, 0.1])[1:] == (-math.inf, math.inf)
    assert all(math.isnan(v) for v in difference_interval([], [1.0]))
