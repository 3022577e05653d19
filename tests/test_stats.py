import math

import numpy as np
import pytest
from scipy import stats

from papergrid.stats import (
    fieller_ratio,
    holm,
    no_evidence,
    ols,
    rms_effect,
    sd_interval,
    t_contrast,
    t_mean,
    t_paired,
    t_welch,
)


def coverage(make, truth, n=2000, level=0.95, seed=0):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n):
        lo, hi = make(rng).interval(level)
        hits += lo <= truth <= hi
    return hits / n


def test_t_mean_matches_student_t():
    values = [0.91, 0.95, 0.93]
    ev = t_mean(values)
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    assert ev.estimate == pytest.approx(np.mean(values))
    assert ev.interval(0.95) == pytest.approx((ev.estimate - half, ev.estimate + half))
    assert (ev.n_units, ev.unit) == (3, "seeds")


@pytest.mark.parametrize(
    ("make", "truth"),
    [
        (lambda r: t_mean(r.normal(0, 1, 3)), 0.0),
        (lambda r: t_welch(r.normal(1, 1, 3), r.normal(0, 3, 4)), 1.0),
        (lambda r: t_paired(*(lambda s: (s + r.normal(0.5, 0.2, 4), s))(r.normal(0, 5, 4))), 0.5),
        (lambda r: sd_interval(float((r.normal(0, 2, 6) ** 2).sum()), 6, 6), 2.0),
    ],
)
def test_intervals_cover_at_nominal_rate_with_few_units(make, truth):
    assert 0.93 < coverage(make, truth) < 0.97


def test_p_values_agree_with_the_bounds():
    rng = np.random.default_rng(1)
    cases = [
        t_mean(rng.normal(0.4, 0.3, 5)),
        sd_interval(3.0, 8, 9),
        rms_effect(rng.normal(0, 1, (5, 4)) + rng.normal(0, 1, (5, 1))),
        fieller_ratio((1.0, 0.04), (2.0, 0.05), 0.01, 8, 9),
    ]
    for ev in cases:
        for c in (ev.estimate * 0.5, ev.estimate * 1.5, ev.estimate + 0.1):
            p = ev.p_greater(c)
            if 1e-4 < p < 0.999:
                assert ev.lower(p * 1.02) > c - 1e-9 and ev.lower(p * 0.98) < c + 1e-9, ev.method
            p = ev.p_less(c)
            if 1e-4 < p < 0.999:
                assert ev.upper(p * 1.02) < c + 1e-9 and ev.upper(p * 0.98) > c - 1e-9, ev.method


def test_welch_matches_scipy():
    a, b = [0.8, 0.9, 0.85, 0.95], [0.5, 0.7, 0.6]
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert t_welch(a, b).interval(0.95) == pytest.approx((ci.low, ci.high))


def test_paired_uses_the_differences():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.9, 1.8, 3.1, 3.7])
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert t_paired(a, b).interval(0.95) == pytest.approx((ci.low, ci.high))
    with pytest.raises(ValueError, match="not paired"):
        t_paired([1, 2], [1, 2, 3])


def test_contrast_of_three_groups():
    g = [np.array([1.0, 1.2, 0.9]), np.array([2.0, 2.5, 2.2]), np.array([3.0, 2.9, 3.3])]
    ev = t_contrast(g, [1, -2, 1])
    assert ev.estimate == pytest.approx(g[0].mean() - 2 * g[1].mean() + g[2].mean())
    lo, hi = ev.interval(0.95)
    assert lo < ev.estimate < hi


def test_too_few_units_say_so():
    for ev in (t_mean([1.0]), t_welch([1.0], [2.0, 3.0]), t_mean([])):
        assert ev.interval(0.95) == (-math.inf, math.inf)
        assert ev.p_greater(0.0) == 1.0 and ev.p_less(0.0) == 1.0
        assert "too few" in ev.detail


def test_ols_coefficient_matches_classical_t():
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(12), rng.normal(size=12), np.repeat([0, 1, 2, 3], 3)])
    y = x @ [1.0, 0.5, 0.2] + rng.normal(0, 0.1, 12)
    ev, beta = ols(x, y, 2)
    res = stats.linregress(x[:, 2], y - beta[1] * x[:, 1])  # same slope, different df
    assert beta[2] == pytest.approx(res.slope, rel=0.05)
    assert ev.estimate == pytest.approx(beta[2])
    assert ols(x[:3], y[:3], 2)[0].method == "none"


def test_fieller_is_unbounded_when_the_denominator_may_be_zero():
    ev = fieller_ratio((1.0, 0.01), (0.05, 0.04), 0.0, 10, 12)
    assert ev.interval(0.95) == (-math.inf, math.inf)
    ev = fieller_ratio((1.0, 0.01), (2.0, 0.01), 0.0, 10, 12)
    lo, hi = ev.interval(0.95)
    assert lo < 0.5 < hi and math.isfinite(lo) and math.isfinite(hi)


def test_fieller_covers_the_ratio():
    def make(r):
        a, b = r.normal(1.0, 0.1, 8), r.normal(2.0, 0.1, 8)
        return fieller_ratio(
            (a.mean(), a.var(ddof=1) / 8), (b.mean(), b.var(ddof=1) / 8), 0, 14, 16
        )

    assert 0.93 < coverage(make, 0.5) < 0.975


def test_rms_effect_is_zero_without_groups_and_covers_planted_spread():
    rng = np.random.default_rng(4)
    tau = np.array([-0.3, -0.1, 0.0, 0.1, 0.3])
    rms = float(np.sqrt((tau**2).mean()))

    def make(r):
        return rms_effect(tau[:, None] + r.normal(0, 0.2, (5, 4)))

    # conservative: the within-group SD is plugged in, and its error moves F and the scale
    # of the bounds in opposite directions
    assert 0.94 < coverage(make, rms, n=600)
    null = rms_effect(rng.normal(0, 1, (5, 4)) * 0 + rng.normal(0, 1, (1, 4)))
    assert null.lower(0.025) == 0.0


def test_holm_matches_hand_computed_steps():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, made monotone
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert no_evidence(1.0, 0, "seeds").p_greater(0.0) == 1.0


def test_minimum_takes_the_weakest_bounds_and_the_largest_p():
    from papergrid.stats import minimum

    a = t_mean([1.0, 1.2, 0.9, 1.1])
    b = t_mean([0.5, 0.7, 0.4, 0.6])
    m = minimum([a, b])
    assert m.estimate == pytest.approx(b.estimate)
    assert m.lower(0.025) == pytest.approx(min(a.lower(0.025), b.lower(0.025)))
    # the "below" side is Bonferroni-corrected over the two quantities
    assert m.upper(0.025) == pytest.approx(min(a.upper(0.0125), b.upper(0.0125)))
    assert m.p_greater(0.3) == pytest.approx(max(a.p_greater(0.3), b.p_greater(0.3)))
    assert m.p_less(0.8) == pytest.approx(min(1.0, 2 * min(a.p_less(0.8), b.p_less(0.8))))
    assert minimum([a, no_evidence(0.0, 1, "seeds")]).method == "none"


def test_minimum_keeps_both_error_rates_when_every_quantity_sits_on_the_threshold():
    from papergrid.stats import minimum

    rng = np.random.default_rng(3)
    above = below = 0
    n = 2000
    for _ in range(n):
        m = minimum([t_mean(rng.normal(0.0, 1.0, 5)) for _ in range(6)])
        lo, hi = m.interval(0.95)
        above += lo > 0
        below += hi < 0
    assert above / n <= 0.025 + 3 * (0.025 * 0.975 / n) ** 0.5
    assert below / n <= 0.025 + 3 * (0.025 * 0.975 / n) ** 0.5
