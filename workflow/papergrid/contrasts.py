"""Claims about arms of runs that share their seeds, compared seed by seed.

Two arms trained from the same start and the same batches (an ablation and its full run,
a fine-tuning method and the checkpoint it started from, two methods from one start) are
paired: the claim's statistic is the mean over seeds of arm A's value minus arm B's, with
a paired t interval on the seeds (:func:`papergrid.stats.t_paired`). :func:`paired_claim`
builds such a claim, and its simulator: the observed runs, with arm B's shifted column set
so that every seed's difference is the planted mean plus noise of the observed SD of the
differences (pairing kept, the shape of the grid kept). :class:`Single` is the same for
one arm's own value (a difference between two of its columns, say), and
:class:`MinOfPaired` for "arm A beats every one of several arms".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.stats import Evidence, minimum, no_evidence, t_mean, t_paired

Value = str | Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Paired:
    """Arm A minus arm B of ``value`` per ``key`` (seed)."""

    a: Mapping[str, Any]  # column == value filters selecting arm A's runs
    b: Mapping[str, Any]
    value: Value  # a column, or a function of the runs giving one number per run
    # the column(s) the simulator moves, all by the same amount, to plant a difference: the
    # value must move one for one with them (a column, or the mean of those columns)
    shift: str | tuple[str, ...]
    log: bool = False  # compare log(value): a ratio of A to B
    key: str = "seed"

    def rows(self, runs: pd.DataFrame, where: Mapping[str, Any]) -> np.ndarray:
        """Positions of the ok runs matching ``where`` (numpy masks: calibration evaluates
        this for every simulated table)."""
        sel = runs["status"].to_numpy() == "ok"
        for col, v in where.items():
            values = runs[col].to_numpy()
            if isinstance(v, float) and math.isnan(v):
                sel &= pd.isna(values)
            else:
                sel &= values == v
        return np.flatnonzero(sel)

    def arm(self, runs: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
        return runs.iloc[self.rows(runs, where)]

    def values(self, runs: pd.DataFrame, where: Mapping[str, Any]) -> pd.Series:
        pos = self.rows(runs, where)
        if isinstance(self.value, str):
            v = runs[self.value].to_numpy(dtype=float)[pos]
        else:
            v = np.asarray(self.value(runs.iloc[pos]), dtype=float)
        keys = runs[self.key].to_numpy()[pos]
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
        return pd.Series(v, index=keys)

    def aligned(self, runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        a, b = self.values(runs, self.a), self.values(runs, self.b)
        keys = sorted(set(a.dropna().index) & set(b.dropna().index))
        return a.loc[keys], b.loc[keys]

    def evidence(self, runs: pd.DataFrame) -> Evidence:
        a, b = self.aligned(runs)
        if len(a) < 2:
            return no_evidence(float((a - b).mean()) if len(a) else math.nan, len(a), "seeds")
        return t_paired(a.to_numpy(), b.to_numpy(), "seeds")

    def planter(self, runs: pd.DataFrame) -> Callable[[float, np.random.Generator], Planted]:
        """Planted mean difference ``e`` (in the statistic's units), noise of the observed
        SD of the differences: the change to arm B's ``shift`` columns that gives it."""
        a, b = self.aligned(runs)
        d = (a - b).to_numpy()
        sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
        pos = self.rows(runs, self.b)
        keys = runs[self.key].to_numpy()[pos]
        paired = np.isin(keys, a.index)
        pos, keys = pos[paired], keys[paired]
        now = b.reindex(keys).to_numpy()  # B's observed value per row to move
        order = {k: i for i, k in enumerate(a.index)}
        slot = np.array([order[k] for k in keys], dtype=int)
        cols = (self.shift,) if isinstance(self.shift, str) else tuple(self.shift)
        a_values = a.to_numpy()

        def plant(e: float, rng: np.random.Generator) -> Planted:
            draws = e + sd * rng.standard_normal(len(a_values))
            want = (a_values - draws)[slot]  # B's value per row that gives the planted gap
            delta = np.exp(want) - np.exp(now) if self.log else want - now
            return Planted(pos, cols, delta)

        return plant

    def simulator(self, runs: pd.DataFrame) -> Callable[[float, np.random.Generator], pd.DataFrame]:
        plant = self.planter(runs)
        return lambda e, rng: apply_planted(runs, [plant(e, rng)])


@dataclass(frozen=True)
class Planted:
    """Add ``delta`` to columns ``cols`` at row positions ``pos``."""

    pos: np.ndarray
    cols: tuple[str, ...]
    delta: np.ndarray


def apply_planted(runs: pd.DataFrame, changes: list[Planted]) -> pd.DataFrame:
    out = runs.copy()
    for cols in {c for ch in changes for c in ch.cols}:
        col = runs[cols].to_numpy(dtype=float).copy()
        for ch in changes:
            if cols in ch.cols:
                col[ch.pos] += ch.delta
        out[cols] = col
    return out


@dataclass(frozen=True)
class Single:
    """The mean over seeds of one arm's ``value`` (say a difference of two of its
    columns), with a one-sample t interval on the seeds."""

    a: Mapping[str, Any]
    value: Value
    shift: str | tuple[str, ...]  # moves the value one for one (see :class:`Paired`)
    key: str = "seed"

    def values(self, runs: pd.DataFrame) -> pd.Series:
        v = Paired(self.a, self.a, self.value, self.shift, key=self.key).values(runs, self.a)
        return v.dropna()

    def evidence(self, runs: pd.DataFrame) -> Evidence:
        v = self.values(runs)
        if len(v) < 2:
            return no_evidence(float(v.mean()) if len(v) else math.nan, len(v), "seeds")
        return t_mean(v.to_numpy(), "seeds")

    def simulator(self, runs: pd.DataFrame) -> Callable[[float, np.random.Generator], pd.DataFrame]:
        """Planted mean ``e``, noise of the observed SD over seeds."""
        v = self.values(runs)
        sd = float(np.std(v.to_numpy(), ddof=1)) if len(v) > 1 else 0.0
        helper = Paired(self.a, self.a, self.value, self.shift, key=self.key)
        pos = helper.rows(runs, self.a)
        keys = runs[self.key].to_numpy()[pos]
        keep = np.isin(keys, v.index)
        pos, keys = pos[keep], keys[keep]
        now = v.reindex(keys).to_numpy()
        cols = (self.shift,) if isinstance(self.shift, str) else tuple(self.shift)

        def simulate(e: float, rng: np.random.Generator) -> pd.DataFrame:
            want = e + sd * rng.standard_normal(len(pos))
            return apply_planted(runs, [Planted(pos, cols, want - now)])

        return simulate


@dataclass(frozen=True)
class MinOfPaired:
    """The smallest of several paired contrasts that share arm A ("A beats every B"):
    :func:`papergrid.stats.minimum` of their paired t evidence."""

    contrasts: tuple[Paired, ...]

    def evidence(self, runs: pd.DataFrame) -> Evidence:
        return minimum([c.evidence(runs) for c in self.contrasts])

    def simulator(self, runs: pd.DataFrame) -> Callable[[float, np.random.Generator], pd.DataFrame]:
        """The smallest contrast planted at ``e``, the others kept at their observed
        distance above it; each with the noise of its own observed differences."""
        est = [c.evidence(runs).estimate for c in self.contrasts]
        low = min(est)
        plants = [c.planter(runs) for c in self.contrasts]

        def simulate(e: float, rng: np.random.Generator) -> pd.DataFrame:
            changes = [p(e + (x - low), rng) for p, x in zip(plants, est, strict=True)]
            return apply_planted(runs, changes)

        return simulate


def paired_claim(
    paired: Paired | Single | MinOfPaired,
    *,
    experiment: str,
    claim_id: str,
    statement: str,
    statistic: str,
    rule: Rule,
    sesoi: float,
    sesoi_note: str,
    effects: Effects,
    data: Any,
    data_key: str | None = None,
    **gates: Any,
) -> ClaimSpec:
    """A :class:`ClaimSpec` on ``paired`` (or a single arm, or the smallest of several
    contrasts). ``data`` is what the experiment's claims read: the runs table, or a dict
    of tables with the runs under ``data_key``. The claim reads the arms it compares (the
    not-learned gate counts their runs); ``gates`` passes the other gate fields of
    :class:`ClaimSpec` (``control``, ``control_label``, ``fit_check``, ``range_check``)."""

    def runs_of(d):
        return d[data_key] if data_key else d

    sim = paired.simulator(runs_of(data))

    def simulate(e: float, rng: np.random.Generator):
        drawn = sim(e, rng)
        return {**data, data_key: drawn} if data_key else drawn

    return ClaimSpec(
        experiment=experiment,
        claim_id=claim_id,
        statement=statement,
        statistic=statistic,
        rule=rule,
        sesoi=sesoi,
        sesoi_note=sesoi_note,
        effects=effects,
        compute=lambda d: paired.evidence(runs_of(d)),
        simulate=simulate,
        reads=gates.pop("reads", arms_read(paired)),
        **gates,
    )


def arms_read(paired: Paired | Single | MinOfPaired) -> tuple[Mapping[str, Any], ...]:
    """The arms a contrast reads, as column == value filters."""
    if isinstance(paired, Paired):
        return (paired.a, paired.b)
    if isinstance(paired, Single):
        return (paired.a,)
    return tuple(arm for c in paired.contrasts for arm in (c.a, c.b))
