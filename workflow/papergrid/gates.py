"""Validity gates: when a computed verdict may be read as a finding.

A rule can be calibrated and still decide nothing about the paper (../shared/REVIEW.md):
the statistic may be an identity, the rule may be unable to say otherwise, the law it reads
may not fit, the quantity may lie outside the grid, the runs may not have learned, or a
control arm may clear the same rule. The claims core (:mod:`papergrid.claims`) applies
these gates to every claim of every experiment; a claim that fails one keeps its raw
verdict beside an ``inconclusive`` with the gate's reason. An experiment declares what a
run that learned looks like (:class:`LearnedRule`, once, in its claims module) and, on a
claim's spec, its control arm, the check of the law it reads (:class:`FitCheck`) and the
range check of a derived optimum; this module does the rest, the same way for all.

Gates, in the order they are tried (the first that fails names the reason):

- ``not_learned``: most runs the claim reads did not learn;
- ``identity``: the statistic has no spread over its units (a point interval);
- ``lack_of_fit``: the fitted law the claim reads fails its lack-of-fit test against pure
  error, or misses a held-out size;
- ``extrapolation``: a derived optimum, crossing or multiplier lies outside the grid;
- ``control``: the control arm clears the same rule, so the claim is not about the method;
- ``could_not_fail``: in the calibration the rule reached the opposite verdict less than
  half the time where it should have ("supported" needs "not supported" at an effect
  against the claim, "not supported" needs "supported" at the paper's effect);
- ``not_calibrated``: a decided verdict whose rule the calibration could not check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

GATES = (
    "not_calibrated",
    "not_learned",
    "identity",
    "lack_of_fit",
    "extrapolation",
    "control",
    "could_not_fail",
)
MOSTLY = 0.5  # a claim whose read runs did not learn in more than this share is gated
OPPOSITE_MIN = 0.5  # a decided verdict needs the opposite one this often where it is due
IDENTITY_RTOL = 1e-12  # an interval narrower than this times the estimate's scale is a point
IDENTITY_SESOI = 1e-3  # or narrower than this share of the smallest effect of interest


@dataclass(frozen=True)
class LearnedRule:
    """A run learned when ``metric`` beats ``reference`` by ``margin`` in the ``better``
    direction; ``reference`` is a number (chance accuracy, the uniform loss) or a column
    of the runs table (the run's own start). ``why`` says where the margin comes from."""

    metric: str
    better: Literal["lower", "higher"]
    reference: float | str
    margin: float
    why: str

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', got {self.better!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {self.margin!r}")

    def passed(self, runs: pd.DataFrame) -> np.ndarray:
        """True where the run learned (a NaN metric did not)."""
        v = pd.to_numeric(runs[self.metric], errors="coerce").to_numpy(float)
        if isinstance(self.reference, str):
            ref = pd.to_numeric(runs[self.reference], errors="coerce").to_numpy(float)
        else:
            ref = np.full(len(runs), float(self.reference))
        with np.errstate(invalid="ignore"):
            ok = v <= ref - self.margin if self.better == "lower" else v >= ref + self.margin
        return np.asarray(ok & np.isfinite(v) & np.isfinite(ref), dtype=bool)

    def describe(self) -> str:
        ref = self.reference if isinstance(self.reference, str) else f"{self.reference:.4g}"
        way = "below" if self.better == "lower" else "above"
        return f"{self.metric} {way} {ref} by at least {self.margin:g} ({self.why})"


def mark_not_learned(runs: pd.DataFrame, rules: LearnedRule | Sequence[LearnedRule]):
    """``runs`` with status ``not_learned`` where an ``ok`` run fails any of ``rules``
    (diverged and failed runs keep their status)."""
    rules = [rules] if isinstance(rules, LearnedRule) else list(rules)
    if not len(runs) or not rules:
        return runs
    learned = np.ones(len(runs), dtype=bool)
    for r in rules:
        learned &= r.passed(runs)
    out = runs.copy()
    out.loc[(out["status"].to_numpy() == "ok") & ~learned, "status"] = "not_learned"
    return out


def runs_frame(data: Any) -> pd.DataFrame | None:
    """The runs table inside a claims module's data: the data itself, its ``runs`` item or
    its ``runs`` attribute."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping) and isinstance(data.get("runs"), pd.DataFrame):
        return data["runs"]
    runs = getattr(data, "runs", None)
    return runs if isinstance(runs, pd.DataFrame) else None


Reads = Sequence[Mapping[str, Any]]  # arms as column == value filters, read together


def learned_counts(data: Any, reads: Reads | None) -> list[tuple[int, int]]:
    """Per arm of ``reads`` (each a set of column == value filters; None: every run as one
    arm), (runs read, of which did not learn): not_learned, diverged or failed."""
    runs = runs_frame(data)
    if runs is None or "status" not in runs:
        return []
    bad = (runs["status"] != "ok").to_numpy()
    out = []
    for arm in [{}] if reads is None else reads:
        match = np.ones(len(runs), dtype=bool)
        for col, value in arm.items():
            if col not in runs:
                raise KeyError(f"the claim reads arm {dict(arm)}, but the runs have no {col!r}")
            if isinstance(value, float) and math.isnan(value):
                match &= pd.isna(runs[col]).to_numpy()
            else:
                match &= runs[col].to_numpy() == value
        out.append((int(match.sum()), int((match & bad).sum())))
    return out


def not_learned_reason(counts: list[tuple[int, int]]) -> str:
    """Why the claim fails the not-learned gate ("" when every arm it reads mostly
    learned): an arm whose runs mostly did not learn leaves its survivors selected."""
    for read, bad in counts:
        if read and bad > MOSTLY * read:
            which = " in one arm it reads" if len(counts) > 1 else ""
            return f"most runs did not learn{which}: {bad} of {read}"
    return ""


@dataclass(frozen=True)
class FitCheck:
    """Whether the law a claim reads fits the runs: ``passed``, the reason in a few words
    when it does not, and the figures behind it (for fits.md)."""

    passed: bool
    reason: str = ""
    figures: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LackOfFit:
    """F test of fitted means against pure error: ``f`` on (``df_fit``, ``df_pure``)
    degrees of freedom, its p-value, and the number of design points."""

    f: float
    df_fit: int
    df_pure: int
    p: float
    points: int

    @property
    def defined(self) -> bool:
        return self.df_fit > 0 and self.df_pure > 0 and math.isfinite(self.f)

    def describe(self) -> str:
        if not self.defined:
            return f"lack of fit undefined ({self.points} points, {self.df_pure} pure-error df)"
        return f"lack-of-fit F({self.df_fit}, {self.df_pure}) = {self.f:.3g}, p = {self.p:.3g}"


def lack_of_fit(
    resid: Sequence[float],
    points: Sequence,
    n_params: int,
    variance_groups: Sequence | None = None,
) -> LackOfFit:
    """Lack of fit of a fitted law against pure error.

    ``resid`` are the observed values minus the law's prediction, one per run; ``points``
    label the design points (cells of the grid) whose runs differ only by seed. The mean
    residual of each point is the law's misfit there; the scatter of the runs around their
    point's mean is pure error (seed-to-seed), which the law cannot explain. With
    ``variance_groups`` (for example the bit width, where noise differs fifty-fold across
    groups) each point's misfit is scaled by its group's pure-error variance, so the
    statistic is a sum of squared standardised misfits over ``points - n_params`` degrees
    of freedom, against an F distribution."""
    from scipy import stats as st

    r = np.asarray(resid, dtype=float)
    labels = pd.Series(list(points)).astype(str).to_numpy()
    groups = (
        pd.Series(list(variance_groups)).astype(str).to_numpy()
        if variance_groups is not None
        else np.zeros(len(r)).astype(str)
    )
    keep = np.isfinite(r)
    r, labels, groups = r[keep], labels[keep], groups[keep]
    frame = pd.DataFrame({"r": r, "point": labels, "group": groups})
    by_point = frame.groupby("point")
    means, counts = by_point["r"].mean(), by_point["r"].size()
    point_group = by_point["group"].first()
    frame["dev"] = frame["r"] - frame["point"].map(means)
    pure_ss = frame.groupby("group")["dev"].apply(lambda d: float((d**2).sum()))
    pure_df = frame.groupby("group")["point"].apply(lambda p: len(p) - p.nunique())
    df_pure = int(pure_df.sum())
    n_points = int(len(means))
    df_fit = n_points - int(n_params)
    if df_fit <= 0 or df_pure <= 0:
        return LackOfFit(math.nan, max(df_fit, 0), df_pure, math.nan, n_points)
    var = {g: pure_ss[g] / pure_df[g] for g in pure_ss.index if pure_df[g] > 0}
    pooled = float(pure_ss.sum() / df_pure)
    chi = 0.0
    group_of = []
    for point, m in means.items():
        g = (
            point_group[point]
            if point_group[point] in var and var[point_group[point]] > 0
            else None
        )
        v = var[g] if g is not None else pooled
        if not v > 0:
            return LackOfFit(math.inf, df_fit, df_pure, 0.0, n_points)
        chi += counts[point] * m * m / v
        group_of.append(g)
    f = chi / df_fit
    if variance_groups is None:
        p = float(st.f.sf(f, df_fit, df_pure))
    else:
        p = _null_p(chi, group_of, {g: int(pure_df[g]) for g in var}, df_pure, df_fit)
    return LackOfFit(float(f), df_fit, df_pure, p, n_points)


LOF_DRAWS = 4000  # Monte Carlo draws of the lack-of-fit null (p-value SE <= 0.008)


def _null_p(
    chi: float, group_of: list, df_of: Mapping[Any, int], df_pure: int, df_fit: int
) -> float:
    """P(null statistic >= chi) when each point's misfit is scaled by its own group's
    variance estimate: with few seeds per group those estimates scatter, so the sum is
    not F(df_fit, df_pure) (an F test rejected a true law 10-23% of the time at 5% with
    two or three seeds per point). Under the null a point's scaled misfit is z^2 / v_g,
    z standard normal, v_g ~ chi2(df_g) / df_g shared by the group's points (the pooled
    estimate for points whose group has none); the fitted parameters are taken out by
    scaling the sum by df_fit / points. Seeded: the same data give the same p."""
    rng = np.random.default_rng(12345)
    groups = sorted({g for g in group_of if g is not None}, key=str)
    index = {g: i for i, g in enumerate(groups)}
    v = np.empty((LOF_DRAWS, len(groups) + 1))
    for g, i in index.items():
        v[:, i] = rng.chisquare(df_of[g], LOF_DRAWS) / df_of[g]
    v[:, -1] = rng.chisquare(df_pure, LOF_DRAWS) / df_pure
    cols = np.array([index[g] if g is not None else len(groups) for g in group_of])
    z2 = rng.standard_normal((LOF_DRAWS, len(group_of))) ** 2
    null = (z2 / v[:, cols]).sum(axis=1) * df_fit / len(group_of)
    return float((np.sum(null >= chi) + 1) / (LOF_DRAWS + 1))


def identity(ci_low: float, ci_high: float, estimate: float, n: int, sesoi: float = 0.0) -> bool:
    """A finite interval on two or more units narrower than a thousandth of the smallest
    effect of interest (or a point, where there is none): no spread but float rounding,
    which real units of these grids never come near."""
    if n < 2 or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return False
    scale = max(1.0, abs(estimate) if math.isfinite(estimate) else 1.0)
    tol = max(IDENTITY_SESOI * abs(sesoi) if math.isfinite(sesoi) else 0.0, IDENTITY_RTOL * scale)
    return (ci_high - ci_low) <= tol


def could_not_fail(verdict: str, opposite_not_supported: float, power: float) -> str:
    """The reason a decided ``verdict`` fails the could-not-fail gate, or "" when it passes
    (or was not calibrated, which the report says separately)."""
    if verdict == "supported" and math.isfinite(opposite_not_supported):
        if opposite_not_supported < OPPOSITE_MIN:
            return (
                "this grid could not have said otherwise: at an effect against the claim "
                f"it read 'not supported' {opposite_not_supported:.2f} of the time"
            )
    if verdict == "not supported" and math.isfinite(power):
        if power < OPPOSITE_MIN:
            return (
                "this grid could not have said otherwise: at the paper's effect it read "
                f"'supported' {power:.2f} of the time"
            )
    return ""
