"""Knowledge capacity's statistics, simulator and claims (Allen-Zhu and Li 2024), on the
capacity runs table that :mod:`papergrid.precision.capacity` declares and plans.

Kept apart from the planning module so that the training jobs' code hash does not cover
the claims code: editing a statistic reruns claims and calibration, never training.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.precision.capacity import (
    CLAIM_EXPERIMENT,
    MAX_FILL,
    PAPER_BITS_100_EXPOSURES,
    PAPER_BITS_PER_PARAM,
    PAPER_INT4_RATIO,
    PTQ_BITS,
)
from papergrid.stats import Evidence, t_mean

# --- statistics -----------------------------------------------------------------------


def capacity_limited(runs: pd.DataFrame) -> np.ndarray:
    """Runs whose model could hold at most :data:`MAX_FILL` of the facts at the paper's
    rate. Read from the plan (parameters and information), never from the outcome, so
    leaving the others out selects nothing on what they stored."""
    fill = PAPER_BITS_PER_PARAM * runs["n_params_total"].to_numpy(float)
    return fill <= MAX_FILL * runs["info_bits"].to_numpy(float)


def claim_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The ok, capacity-limited runs the claims read, and a note of what was left out."""
    ok = runs[runs["status"] == "ok"]
    keep = capacity_limited(ok)
    dropped = int((~keep).sum())
    note = (
        f"{dropped} run(s) left out: not capacity-limited (2 N_total above {MAX_FILL:.0%} "
        "of the facts' bits)"
        if dropped
        else ""
    )
    return ok[keep], note


def bits_per_param_evidence(runs: pd.DataFrame) -> Evidence:
    """Mean over runs of bits_stored_fp / n_params_total, t interval, runs as units.

    Every run is an independent model (its own initialisation and batch order), and the
    claim is a rate said to hold at every size, so each model's own rate is one unit; a
    slope of bits on N would estimate the marginal rate of the largest models instead.
    The spread between sizes enters the interval: a rate that differs by size is less
    certainly "about 2"."""
    sel, note = claim_runs(runs)
    rate = sel["bits_stored_fp"] / sel["n_params_total"]
    by_size = rate.groupby(sel["n_params_total"]).mean()
    sizes = ", ".join(f"{n}: {r:.2f}" for n, r in by_size.items())
    detail = [f"bits per parameter by N_total: {sizes}" if sizes else "", note]
    return t_mean(rate.to_numpy(float), "runs").with_detail("; ".join(filter(None, detail)))


def ptq_ratios(runs: pd.DataFrame, bits: int) -> tuple[np.ndarray, str]:
    """Each claimed run's bits stored after int``bits`` PTQ over its bits as trained (runs
    that stored nothing have no ratio and are left out, counted)."""
    sel, note = claim_runs(runs)
    fp = sel["bits_stored_fp"].to_numpy(float)
    stored = fp > 0
    ratio = sel[f"bits_stored_int{bits}"].to_numpy(float)[stored] / fp[stored]
    if not stored.all():
        note = "; ".join(filter(None, [note, f"{(~stored).sum()} run(s) stored nothing"]))
    return ratio, note


def ptq_ratio_evidence(runs: pd.DataFrame, bits: int) -> Evidence:
    """Mean over runs of the share of the bits stored that int``bits`` PTQ keeps, t
    interval, runs as units (paired: each ratio is one model before and after). Each
    model counts once, as in :func:`bits_per_param_evidence`; a ratio of means would
    let the largest models decide."""
    ratio, note = ptq_ratios(runs, bits)
    return t_mean(ratio, "runs").with_detail(note)


class CapacitySimulator:
    """Runs tables of the observed shape with one claim's statistic planted at ``e``:

    - bits per parameter: every claimed run's bits_stored_fp at N_total (e + sd z), sd the
      observed spread of the rate over runs; its PTQ columns keep their observed ratios;
    - int8 / int4: each claimed run's bits stored after PTQ at bits_stored_fp (e + sd z),
      sd the observed spread of that ratio over runs.
    Runs the claims leave out stay as observed."""

    def __init__(self, runs: pd.DataFrame):
        self.runs = runs[runs["status"] == "ok"].reset_index(drop=True)
        self.rows = capacity_limited(self.runs)
        sel = self.runs[self.rows]
        self.n = sel["n_params_total"].to_numpy(float)
        self.fp = sel["bits_stored_fp"].to_numpy(float)
        self.rate_sd = _sd(self.fp / self.n)
        self.ptq_sd = {b: _sd(ptq_ratios(self.runs, b)[0]) for b in PTQ_BITS}

    def bits_per_param(self, e: float, rng: np.random.Generator) -> pd.DataFrame:
        out = self.runs.copy()
        fp = self.n * (e + self.rate_sd * rng.standard_normal(self.rows.sum()))
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(self.fp > 0, fp / self.fp, 0.0)
        for b in PTQ_BITS:
            col = f"bits_stored_int{b}"
            out.loc[self.rows, col] = out.loc[self.rows, col].to_numpy(float) * scale
        out.loc[self.rows, "bits_stored_fp"] = fp
        return out

    def ptq(self, bits: int, e: float, rng: np.random.Generator) -> pd.DataFrame:
        out = self.runs.copy()
        ratio = e + self.ptq_sd[bits] * rng.standard_normal(self.rows.sum())
        out.loc[self.rows, f"bits_stored_int{bits}"] = ratio * self.fp
        return out

    def int8_kept(self, e: float, rng: np.random.Generator) -> pd.DataFrame:
        return self.ptq(8, e, rng)

    def int4_lower(self, e: float, rng: np.random.Generator) -> pd.DataFrame:
        return self.ptq(4, e, rng)


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


# --- claims ---------------------------------------------------------------------------


def capacity_claim_specs(
    runs: pd.DataFrame, *, bits_band: list[float], int8_kept: float, int4_lower: float
) -> list[ClaimSpec]:
    """The three capacity claims on the capacity runs table (one row per run). They join
    the precision family (Holm), as part of the same follow-up."""
    lo, hi = bits_band
    sim = CapacitySimulator(runs)
    exposures = sorted(int(x) for x in runs["exposures"].unique()) if len(runs) else []
    at = "/".join(map(str, exposures)) or "the configured"
    return [
        ClaimSpec(
            experiment=CLAIM_EXPERIMENT,
            claim_id="capacity_two_bits_per_param",
            statement=f"a model stores about {PAPER_BITS_PER_PARAM:g} bits of knowledge per "
            f"parameter at full precision ({at} exposures per fact)",
            statistic="bits stored / N_total (every parameter, embeddings included), mean over "
            "capacity-limited runs (t, runs as units)",
            rule=Rule("within", lo, hi),
            sesoi=(hi - lo) / 2,
            sesoi_note=f"2 bits give or take {(hi - lo) / 2:g}: the low edge lies halfway to "
            "the paper's 1 bit at 100 exposures, an under-trained model",
            effects=Effects(
                margin=lo,
                paper=PAPER_BITS_PER_PARAM,
                opposite=PAPER_BITS_100_EXPOSURES,
                note="Allen-Zhu and Li: ~2 bits/param at 1,000 exposures, ~1 at 100",
            ),
            compute=bits_per_param_evidence,
            simulate=sim.bits_per_param,
        ),
        ClaimSpec(
            experiment=CLAIM_EXPERIMENT,
            claim_id="capacity_kept_at_int8",
            statement="the knowledge stored is kept after int8 quantisation",
            statistic="bits stored after int8 round-to-nearest PTQ of every weight and "
            "embedding over bits stored as trained, per run; mean over runs (t)",
            rule=Rule("above", int8_kept),
            sesoi=1 - int8_kept,
            sesoi_note=f"kept: int8 loses less than {1 - int8_kept:.0%} of the bits stored",
            effects=Effects(
                margin=int8_kept,
                paper=1.0,
                opposite=0.7,
                note="Allen-Zhu and Li: the 2-bit rule holds even when quantised to int8",
            ),
            compute=partial(ptq_ratio_evidence, bits=8),
            simulate=sim.int8_kept,
        ),
        ClaimSpec(
            experiment=CLAIM_EXPERIMENT,
            claim_id="capacity_lower_at_int4",
            statement="int4 quantisation lowers the knowledge stored",
            statistic="bits stored after int4 round-to-nearest PTQ of every weight and "
            "embedding over bits stored as trained, per run; mean over runs (t)",
            rule=Rule("below", int4_lower),
            sesoi=1 - int4_lower,
            sesoi_note=f"lower: int4 loses at least {1 - int4_lower:.0%} of the bits stored",
            effects=Effects(
                margin=int4_lower,
                paper=PAPER_INT4_RATIO,
                opposite=1.0,
                no_effect=1.0,
                note="Allen-Zhu and Li: ~0.7 bits/param at int4 against ~2 (0.35 of it)",
            ),
            compute=partial(ptq_ratio_evidence, bits=4),
            simulate=sim.int4_lower,
        ),
    ]
