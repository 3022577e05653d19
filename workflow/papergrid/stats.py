"""Evidence about one claimed quantity: an estimate and an interval at any level.

Every claim statistic returns an :class:`Evidence`. Its one-sided bounds ``lower(alpha)``
and ``upper(alpha)`` hold with confidence ``1 - alpha``; the two-sided interval at
``level`` is ``(lower(a), upper(a))`` with ``a = (1 - level) / 2``. Its p-values
``p_greater(c)`` (small when the data say theta > c) and ``p_less(c)`` are the smallest
one-sided alpha whose bound excludes ``c``, so a verdict read from the interval and one
read from the p-values agree, and Holm's step-down can adjust them.

The interval methods are chosen for few independent units (three to ten seeds or cells):
- :func:`t_mean`, :func:`t_paired`, :func:`t_welch`, :func:`t_contrast`, :func:`ols`:
  Student-t with the units' degrees of freedom; a percentile bootstrap of three seeds
  cannot show more spread than the three values have.
- :func:`fieller_ratio`: a ratio of two contrasts; unbounded when the denominator is not
  distinguishable from zero.
- :func:`sd_interval` (chi-square) and :func:`rms_effect` (noncentral F) for spreads.
- :func:`minimum`: the smallest of several quantities ("beats every baseline").
Fitted scaling-law parameters get Wald intervals from :meth:`papergrid.fit.FitResult.wald`.
With fewer than two units every method gives an unbounded interval and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy import stats as st

TOO_FEW = "too few units for an interval"


@dataclass(frozen=True)
class Evidence:
    """An estimate with one-sided bounds at any confidence (see module docstring).

    ``lower_fn(alpha)`` / ``upper_fn(alpha)`` give the bounds; p-values come from
    ``p_greater_fn`` / ``p_less_fn`` where the method has them in closed form, else by
    bisection on the bound functions.
    """

    estimate: float
    n_units: int
    unit: str  # the independent unit the interval counts: seeds, cells, soups, runs, ...
    method: str  # the interval method, in a few words
    lower_fn: Callable[[float], float] = field(repr=False, compare=False)
    upper_fn: Callable[[float], float] = field(repr=False, compare=False)
    p_greater_fn: Callable[[float], float] | None = field(default=None, repr=False, compare=False)
    p_less_fn: Callable[[float], float] | None = field(default=None, repr=False, compare=False)
    detail: str = ""

    def lower(self, alpha: float) -> float:
        return float(self.lower_fn(alpha))

    def upper(self, alpha: float) -> float:
        return float(self.upper_fn(alpha))

    def interval(self, level: float) -> tuple[float, float]:
        a = (1 - level) / 2
        return self.lower(a), self.upper(a)

    def p_greater(self, c: float) -> float:
        """p-value of H0: theta <= c."""
        if self.p_greater_fn is not None:
            return float(self.p_greater_fn(c))
        return _invert(lambda a: self.lower(a) > c)

    def p_less(self, c: float) -> float:
        """p-value of H0: theta >= c."""
        if self.p_less_fn is not None:
            return float(self.p_less_fn(c))
        return _invert(lambda a: self.upper(a) < c)

    def with_detail(self, detail: str) -> Evidence:
        return Evidence(
            self.estimate,
            self.n_units,
            self.unit,
            self.method,
            self.lower_fn,
            self.upper_fn,
            self.p_greater_fn,
            self.p_less_fn,
            detail,
        )


def _invert(excludes: Callable[[float], bool], tol: float = 1e-6) -> float:
    """Smallest alpha in (0, 1) at which the one-sided bound excludes c (bounds tighten
    as alpha grows)."""
    lo, hi = 0.0, 1.0
    if not excludes(1 - 1e-9):
        return 1.0
    if excludes(1e-12):
        return 0.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if excludes(mid) else (mid, hi)
    return hi


def no_evidence(estimate: float, n_units: int, unit: str, reason: str = TOO_FEW) -> Evidence:
    """An unbounded interval: the verdict can only be inconclusive."""
    return Evidence(
        float(estimate),
        int(n_units),
        unit,
        "none",
        lambda a: -math.inf,
        lambda a: math.inf,
        lambda c: 1.0,
        lambda c: 1.0,
        reason,
    )


def t_evidence(estimate: float, se: float, df: float, n_units: int, unit: str, method: str):
    """estimate +/- t(df) * se; ``se == 0`` gives a point interval."""
    if not (math.isfinite(estimate) and math.isfinite(se) and df > 0):
        return no_evidence(estimate, n_units, unit)
    if se == 0:
        return Evidence(
            estimate,
            n_units,
            unit,
            method,
            lambda a: estimate,
            lambda a: estimate,
            lambda c: 0.0 if estimate > c else 1.0,
            lambda c: 0.0 if estimate < c else 1.0,
        )
    return Evidence(
        float(estimate),
        int(n_units),
        unit,
        method,
        lambda a: estimate - st.t.isf(a, df) * se,
        lambda a: estimate + st.t.isf(a, df) * se,
        lambda c: float(st.t.sf((estimate - c) / se, df)),
        lambda c: float(st.t.cdf((estimate - c) / se, df)),
    )


def _finite(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v)]


def t_mean(values: Sequence[float], unit: str = "seeds") -> Evidence:
    """Mean of independent units with a Student-t interval (NaN values are dropped)."""
    v = _finite(values)
    if v.size == 0:
        return no_evidence(math.nan, 0, unit)
    if v.size < 2:
        return no_evidence(float(v.mean()), 1, unit)
    se = float(v.std(ddof=1)) / math.sqrt(v.size)
    return t_evidence(float(v.mean()), se, v.size - 1, v.size, unit, "t")


def t_paired(a: Sequence[float], b: Sequence[float], unit: str = "seeds") -> Evidence:
    """mean(a - b) over units present in both arms (a[i] and b[i] share unit i)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"t_paired: arms of shapes {a.shape} and {b.shape} are not paired")
    ev = t_mean(a - b, unit)
    return ev if ev.method == "none" else _renamed(ev, "paired t")


def t_welch(a: Sequence[float], b: Sequence[float], unit: str = "seeds") -> Evidence:
    """mean(a) - mean(b) of independent arms, Welch-Satterthwaite t."""
    return t_contrast([a, b], [1.0, -1.0], unit, "Welch t")


def t_contrast(
    groups: Sequence[Sequence[float]], weights: Sequence[float], unit: str = "seeds", method=None
) -> Evidence:
    """sum_i w_i mean(group_i) over independent groups, Satterthwaite degrees of freedom."""
    gs = [_finite(g) for g in groups]
    n = sum(g.size for g in gs)
    if any(g.size == 0 for g in gs):
        return no_evidence(math.nan, n, unit)
    est = float(sum(w * g.mean() for w, g in zip(weights, gs, strict=True)))
    if any(g.size < 2 for g, w in zip(gs, weights, strict=True) if w != 0):
        return no_evidence(est, n, unit)
    parts = [w * w * g.var(ddof=1) / g.size for g, w in zip(gs, weights, strict=True)]
    var = float(sum(parts))
    denom = sum(p * p / (g.size - 1) for p, g in zip(parts, gs, strict=True))
    df = var * var / denom if denom > 0 else math.inf
    return t_evidence(est, math.sqrt(var), df, n, unit, method or "contrast t (Satterthwaite)")


def ols(
    design: np.ndarray, y: Sequence[float], coef: int, unit: str = "runs"
) -> tuple[Evidence, np.ndarray]:
    """Least squares y ~ design; Evidence for coefficient ``coef`` (classical t, n - p df)
    and the fitted coefficients."""
    x = np.asarray(design, dtype=float)
    yv = np.asarray(y, dtype=float)
    keep = np.isfinite(yv) & np.all(np.isfinite(x), axis=1)
    x, yv = x[keep], yv[keep]
    n, p = x.shape
    if n <= p or np.linalg.matrix_rank(x) < p:
        return no_evidence(math.nan, n, unit), np.full(p, math.nan)
    beta, *_ = np.linalg.lstsq(x, yv, rcond=None)
    resid = yv - x @ beta
    s2 = float(resid @ resid) / (n - p)
    cov = s2 * np.linalg.inv(x.T @ x)
    ev = t_evidence(float(beta[coef]), math.sqrt(cov[coef, coef]), n - p, n, unit, "OLS t")
    return ev, beta


def fieller_ratio(
    num: tuple[float, float],
    den: tuple[float, float],
    cov: float,
    df: float,
    n_units: int,
    unit: str = "seeds",
) -> Evidence:
    """Fieller's interval for num/den from two normal estimates (value, variance) with
    covariance ``cov``: every rho with |num - rho den| / sd(num - rho den) below t(df).
    Unbounded when the denominator is not clearly away from zero at that level."""
    a, va = num
    b, vb = den
    est = a / b if b != 0 else math.nan
    if not all(math.isfinite(v) for v in (a, va, b, vb, cov)) or df <= 0:
        return no_evidence(est, n_units, unit)

    def bounds(alpha: float) -> tuple[float, float]:
        t2 = st.t.isf(alpha, df) ** 2
        # (a - r b)^2 - t2 (va - 2 r cov + r^2 vb) <= 0, a quadratic q2 r^2 + q1 r + q0
        q2 = b * b - t2 * vb
        q1 = -2 * (a * b - t2 * cov)
        q0 = a * a - t2 * va
        if q2 <= 0:  # denominator indistinguishable from zero: unbounded
            return -math.inf, math.inf
        disc = q1 * q1 - 4 * q2 * q0
        root = math.sqrt(max(disc, 0.0))
        return (-q1 - root) / (2 * q2), (-q1 + root) / (2 * q2)

    return Evidence(
        float(est),
        int(n_units),
        unit,
        "Fieller t",
        lambda al: bounds(al)[0],
        lambda al: bounds(al)[1],
        lambda c: _invert(lambda al: bounds(al)[0] > c),
        lambda c: _invert(lambda al: bounds(al)[1] < c),
    )


def sd_interval(resid_ss: float, df: int, n_units: int, unit: str = "runs") -> Evidence:
    """A standard deviation sqrt(SS / df) with its chi-square interval (normal errors)."""
    if df < 1 or not math.isfinite(resid_ss):
        return no_evidence(math.nan, n_units, unit)
    est = math.sqrt(resid_ss / df)

    def lower(a):
        return math.sqrt(resid_ss / st.chi2.isf(a, df))

    def upper(a):
        return math.sqrt(resid_ss / st.chi2.ppf(a, df))

    return Evidence(
        est,
        n_units,
        unit,
        "chi-square",
        lower,
        upper,
        lambda c: float(st.chi2.sf(resid_ss / c**2, df)) if c > 0 else 1.0,
        lambda c: float(st.chi2.cdf(resid_ss / c**2, df)) if c > 0 else 1.0,
    )


def _ncf_lambda(f_obs: float, d1: int, d2: int, prob: float) -> float:
    """Noncentrality lambda at which P(F' <= f_obs) = prob (0 if even lambda = 0 is below)."""
    if st.f.cdf(f_obs, d1, d2) <= prob:
        return 0.0

    def g(lam):
        return st.ncf.cdf(f_obs, d1, d2, lam) - prob

    hi = max(10.0, 4 * d1 * f_obs)
    while g(hi) > 0:
        hi *= 2
    return float(optimize.brentq(g, 0.0, hi, xtol=1e-8))


def rms_effect(groups: np.ndarray, unit: str = "seeds") -> Evidence:
    """Root mean square of fixed group effects in a (groups, replicates) table, in the
    data's units: tau_rms = sqrt(mean_g (mu_g - mu)^2), with an interval from the
    noncentral F of the one-way ANOVA (noncentrality S * sum_g tau_g^2 / sigma^2; the
    within-group sigma is plugged in from its T(S - 1) degrees of freedom, which makes the
    interval conservative: about 99% coverage at 95% with 5 groups of 4)."""
    m = np.asarray(groups, dtype=float)
    t, s = m.shape
    if t < 2 or s < 2 or not np.all(np.isfinite(m)):
        return no_evidence(math.nan, m.size, unit)
    rows = m.mean(axis=1)
    grand = rows.mean()
    d1, d2 = t - 1, t * (s - 1)
    ms_t = s * float(((rows - grand) ** 2).sum()) / d1
    ms_w = float(((m - rows[:, None]) ** 2).sum()) / d2
    if ms_w == 0:
        spread = float(np.sqrt(((rows - grand) ** 2).mean()))
        return t_evidence(spread, 0.0, 1, m.size, unit, "noncentral F")
    f_obs = ms_t / ms_w

    def to_tau(lam: float) -> float:
        return math.sqrt(max(lam, 0.0) * ms_w / (s * t))

    # E[F'] = d2 / (d2 - 2) * (d1 + lambda) / d1: the unbiased lambda, floored at 0
    est = to_tau(d1 * f_obs * (d2 - 2) / d2 - d1 if d2 > 2 else d1 * (f_obs - 1))
    return Evidence(
        est,
        m.size,
        unit,
        "noncentral F",
        lambda a: to_tau(_ncf_lambda(f_obs, d1, d2, 1 - a)),
        lambda a: to_tau(_ncf_lambda(f_obs, d1, d2, a)),
        lambda c: (
            float(st.ncf.sf(f_obs, d1, d2, c * c * s * t / ms_w))
            if c > 0
            else float(st.f.sf(f_obs, d1, d2))
        ),
        lambda c: float(st.ncf.cdf(f_obs, d1, d2, c * c * s * t / ms_w)) if c > 0 else 1.0,
    )


def minimum(evs: Sequence[Evidence]) -> Evidence:
    """Evidence for the smallest of several quantities ("A beats every B").

    The lower side is an intersection-union test: the smallest quantity exceeds c when
    every one does, so the lower bound is the smallest lower bound and p_greater the
    largest p, each at the nominal level with no correction. The upper side is not: the
    smallest quantity lies below c when any one does, and with K quantities near c one of
    K upper bounds falls short by chance about K times as often, so that side is
    Bonferroni-corrected (each bound at alpha / K, p_less = K times the smallest p)."""
    if not evs:
        raise ValueError("minimum of no evidence")
    k = len(evs)
    if any(ev.method == "none" for ev in evs):
        est = min(ev.estimate for ev in evs)
        return no_evidence(est, min(ev.n_units for ev in evs), evs[0].unit)
    return Evidence(
        float(min(ev.estimate for ev in evs)),
        min(ev.n_units for ev in evs),
        evs[0].unit,
        f"min of {k} ({evs[0].method})",
        lambda a: min(ev.lower(a) for ev in evs),
        lambda a: min(ev.upper(a / k) for ev in evs),
        lambda c: max(ev.p_greater(c) for ev in evs),
        lambda c: min(1.0, k * min(ev.p_less(c) for ev in evs)),
    )


def _renamed(ev: Evidence, method: str) -> Evidence:
    return Evidence(
        ev.estimate,
        ev.n_units,
        ev.unit,
        method,
        ev.lower_fn,
        ev.upper_fn,
        ev.p_greater_fn,
        ev.p_less_fn,
        ev.detail,
    )


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj
