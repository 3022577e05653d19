"""Claims about two arms of runs that share their seeds, compared seed by seed.

Two arms trained from the same start and the same batches (an ablation and its full run,
a fine-tuning method and the checkpoint it started from, two methods from one start) are
paired: the claim's statistic is the mean over seeds of arm A's value minus arm B's, with
a paired t interval on the seeds (:func:`papergrid.stats.t_paired`). :func:`paired_claim`
builds such a claim, and its simulator: the observed runs, with arm B's shifted column set
so that every seed's difference is the planted mean plus noise of the observed SD of the
differences (pairing kept, the shape of the grid kept).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.stats import Evidence, no_evidence, t_paired

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

    def arm(self, runs: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
        sel = runs["status"] == "ok"
        for col, v in where.items():
            sel &= runs[col].isna() if isinstance(v, float) and math.isnan(v) else runs[col] == v
        return runs[sel]

    def values(self, runs: pd.DataFrame, where: Mapping[str, Any]) -> pd.Series:
        arm = self.arm(runs, where)
        v = arm[self.value] if isinstance(self.value, str) else self.value(arm)
        v = pd.Series(np.asarray(v, dtype=float), index=arm[self.key].to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(v.where(v > 0)) if self.log else v

    def aligned(self, runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        a, b = self.values(runs, self.a), self.values(runs, self.b)
        keys = sorted(set(a.dropna().index) & set(b.dropna().index))
        return a.loc[keys], b.loc[keys]

    def evidence(self, runs: pd.DataFrame) -> Evidence:
        a, b = self.aligned(runs)
        if len(a) < 2:
            return no_evidence(float((a - b).mean()) if len(a) else math.nan, len(a), "seeds")
        return t_paired(a.to_numpy(), b.to_numpy(), "seeds")

    def simulator(self, runs: pd.DataFrame) -> Callable[[float, np.random.Generator], pd.DataFrame]:
        """Planted mean difference ``e`` (in the statistic's units), noise of the observed
        SD of the differences; arm B's ``shift`` column absorbs it."""
        a, b = self.aligned(runs)
        d = (a - b).to_numpy()
        sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
        b_rows = self.arm(runs, self.b)
        offsets = {k: float(b.get(k, math.nan)) for k in a.index}

        def simulate(e: float, rng: np.random.Generator) -> pd.DataFrame:
            out = runs.copy()
            draws = e + sd * rng.standard_normal(len(a))
            target = dict(zip(a.index, a.to_numpy() - draws, strict=True))
            for idx, key in zip(b_rows.index, b_rows[self.key], strict=True):
                if key not in target:
                    continue
                # move the shifted column by what takes B's value from observed to target
                want, now = target[key], offsets[key]
                delta = math.exp(want) - math.exp(now) if self.log else want - now
                cols = [self.shift] if isinstance(self.shift, str) else list(self.shift)
                out.loc[idx, cols] = out.loc[idx, cols] + delta
            return out

        return simulate


def paired_claim(
    paired: Paired,
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
) -> ClaimSpec:
    """A :class:`ClaimSpec` on ``paired``. ``data`` is what the experiment's claims read:
    the runs table, or a dict of tables with the runs under ``data_key``."""

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
    )
