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
  against the claim, "not supported" needs "supported" at the paper's effect).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

GATES = (
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


def learned_counts(data: Any, reads: Reads | None) -> tuple[int, int]:
    """(runs read, of which not learned) among the trained runs (status ok or not_learned)
    matching any of ``reads`` (each a set of column == value filters; None: every run)."""
    runs = runs_frame(data)
    if runs is None or "status" not in runs:
        return 0, 0
    trained = runs["status"].isin(["ok", "not_learned"]).to_numpy()
    if reads is None:
        sel = trained
    else:
        sel = np.zeros(len(runs), dtype=bool)
        for arm in reads:
            match = trained.copy()
            for col, value in arm.items():
                if col not in runs:
                    continue
                if isinstance(value, float) and math.isnan(value):
                    match &= pd.isna(runs[col]).to_numpy()
                else:
                    match &= runs[col].to_numpy() == value
            sel |= match
    status = runs["status"].to_numpy()[sel]
    return int(sel.sum()), int((status == "not_learned").sum())


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
    for point, m in means.items():
        v = var.get(point_group[point], pooled)
        v = v if v > 0 else pooled
        if not v > 0:
            return LackOfFit(math.inf, df_fit, df_pure, 0.0, n_points)
        chi += counts[point] * m * m / v
    f = chi / df_fit
    return LackOfFit(float(f), df_fit, df_pure, float(st.f.sf(f, df_fit, df_pure)), n_points)


def identity(ci_low: float, ci_high: float, estimate: float, n: int) -> bool:
    """A finite point interval on two or more units: no spread at all."""
    if n < 2 or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return False
    scale = max(1.0, abs(estimate) if math.isfinite(estimate) else 1.0)
    return (ci_high - ci_low) <= IDENTITY_RTOL * scale


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
