"""The precision experiment's claims: statistics on cells and runs, rules, and the
simulators that calibrate them (papergrid.claims, papergrid.calibration)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.contract import read_frame
from papergrid.fit import PRECISION_TRAINING, compute_optimal_bits, fit_form
from papergrid.precision.analysis import EXPERIMENT, ok_runs, training_law_inputs
from papergrid.precision.grid import CONTRACT
from papergrid.stats import Evidence, fieller_ratio, no_evidence, ols, t_mean

PAPER_SHARE = 0.98  # gains "saturate at ~6-7 bits": at 8 bits nearly the whole gap is closed
PAPER_GAMMA_D = 0.5068  # App. K
PAPER_ROBUST_RATIO = 0.5  # "degrade less": read as half the PTQ degradation
PAPER_P_STAR = 7.5  # "~7-8 bits"


def cells(runs: pd.DataFrame) -> list[pd.DataFrame]:
    ok = ok_runs(runs)
    return [c.set_index("train_bits") for _, c in ok.groupby(["d_model", "tokens_per_param"])]


def share_evidence(runs: pd.DataFrame, low: float, saturation_bits: int) -> Evidence:
    """Share of the loss gap between ``low`` bits and full precision closed at
    ``saturation_bits``, per (N, D) cell; t over cells. Cells with no gap are left out."""
    shares, no_gap = [], 0
    for c in cells(runs):
        if {low, saturation_bits, math.inf} <= set(c.index):
            gap = c.loc[low, "val_loss"] - c.loc[math.inf, "val_loss"]
            if gap > 0:
                shares.append((c.loc[low, "val_loss"] - c.loc[saturation_bits, "val_loss"]) / gap)
            else:
                no_gap += 1
    ev = t_mean(shares, "cells")
    if no_gap:
        ev = ev.with_detail(
            f"{no_gap} cell(s) left out: their {low:g}-bit run was not worse "
            "than the unquantised one"
        )
    return ev


PTQ_LOW = (3, 4)  # the post-training precisions whose degradation the growth claim reads


def ptq_growth_design(runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Per unquantised run: (design [1, log D, log N], log mean delta_PTQ at 3-4 bits),
    runs with no positive mean degradation left out (counted)."""
    fp = ok_runs(runs)
    fp = fp[np.isinf(fp["train_bits"])]
    delta = np.mean([fp[f"val_loss_ptq{b}"] - fp["val_loss"] for b in PTQ_LOW], axis=0)
    keep = delta > 0
    x = np.column_stack(
        [
            np.ones(keep.sum()),
            np.log(fp["tokens"].to_numpy(float)[keep]),
            np.log(fp["n_params"].to_numpy(float)[keep]),
        ]
    )
    return x, np.log(delta[keep]), int((~keep).sum())


def ptq_growth_evidence(runs: pd.DataFrame) -> Evidence:
    """gamma_D: coefficient of log D in log delta_PTQ ~ 1 + log D + log N (Kumar's Eq. 2 in
    logs, at 3-4 post-training bits), OLS t over unquantised runs."""
    x, y, dropped = ptq_growth_design(runs)
    ev = ols(x, y, 1, "runs")[0]
    return ev.with_detail(f"{dropped} run(s) left out: no positive degradation") if dropped else ev


def robustness_evidence(runs: pd.DataFrame, train_bits: int, post_bits: int) -> Evidence:
    """Mean delta_PTQ to ``post_bits`` of the runs trained at ``train_bits`` over that of
    the unquantised runs, paired by cell (Fieller)."""
    low, fp = [], []
    col = f"val_loss_ptq{post_bits}"
    for c in cells(runs):
        if {train_bits, math.inf} <= set(c.index):
            low.append(c.loc[train_bits, col] - c.loc[train_bits, "val_loss"])
            fp.append(c.loc[math.inf, col] - c.loc[math.inf, "val_loss"])
    return paired_ratio(low, fp, "cells")


def paired_ratio(num, den, unit: str) -> Evidence:
    """mean(num) / mean(den) of paired units, Fieller with the paired covariance."""
    a, b = np.asarray(num, float), np.asarray(den, float)
    n = a.size
    if n < 3:
        return no_evidence(math.nan, n, unit)
    cov = np.cov(a, b, ddof=1) / n
    return fieller_ratio((a.mean(), cov[0, 0]), (b.mean(), cov[1, 1]), cov[0, 1], n - 1, n, unit)


def p_star_evidence(runs: pd.DataFrame, start: dict | None = None) -> Evidence:
    """P* = gamma x*(k) minimising the fitted law at fixed C ~ N D P; bounds from gamma's
    Wald interval (refitting is cheap enough to calibrate; the fit table's bootstrap
    interval is the check on it). No interval unless the fit's status is ok."""
    ok = ok_runs(runs)
    k = float(ok["n_quantised"].max()) if len(ok) else 0.0
    if k <= 1:
        return no_evidence(
            math.nan, len(ok), "runs", "one quantised tensor type: no interior optimum"
        )
    fit = fit_form(
        PRECISION_TRAINING,
        training_law_inputs(ok),
        ok["val_loss"].to_numpy(float),
        n_boot=0,
        max_starts=64,
        starts=None if start is None else [start],
    )
    est = compute_optimal_bits(fit.params["gamma"], k) if fit.status != "failed" else math.nan
    if fit.status != "ok":
        return no_evidence(est, len(ok), "runs", f"fit status {fit.status}: no interval")

    def bits(gamma: float) -> float:
        return compute_optimal_bits(max(gamma, 1e-9), k) if math.isfinite(gamma) else gamma

    return Evidence(
        est,
        len(ok),
        "runs",
        "Wald t (fit)",
        lambda a: bits(fit.wald("gamma", a)[0]),
        lambda a: bits(fit.wald("gamma", a)[1]),
        detail=f"P* = gamma x*(k={k:g}); gamma {fit.params['gamma']:.3g}",
    )


class Simulator:
    """Runs tables of the shipped shape with one claim's statistic planted:
    - share: the saturation-bit loss at the planted share of each cell's gap, noise with
      the observed SD of shares over cells;
    - PTQ growth: unquantised runs' degradation at 3-4 bits from the fitted log-linear law
      with the planted gamma_D and the observed residual SD;
    - robustness: low-precision degradations at the planted multiple of the unquantised
      ones, with the observed paired residual SD;
    - P*: every loss from the fitted training law with gamma set to give the planted P*,
      times log-normal noise with the fit's residual SD."""

    def __init__(
        self, runs: pd.DataFrame, low: float, saturation_bits: int, train_bits: int, post_bits: int
    ):
        self.runs = ok_runs(runs).reset_index(drop=True)
        self.low, self.sat = low, saturation_bits
        self.train_bits, self.post_bits = train_bits, post_bits
        shares = self._shares()
        self.share_sd = float(np.std(shares, ddof=1)) if len(shares) > 1 else math.nan
        x, y, _ = ptq_growth_design(self.runs)
        _, self.ptq_beta = ols(x, y, 1) if len(y) > 3 else (None, np.full(3, np.nan))
        resid = y - x @ self.ptq_beta if len(y) > 3 else np.array([])
        self.ptq_sd = float(np.sqrt(resid @ resid / max(1, len(y) - 3))) if resid.size else 0.0
        low_d, fp_d = self._degradations()
        ratio = float(np.mean(low_d) / np.mean(fp_d)) if len(fp_d) and np.mean(fp_d) else 1.0
        self.robust_sd = float(np.std(low_d - ratio * fp_d, ddof=1)) if len(fp_d) > 1 else 0.0

    def _shares(self) -> list[float]:
        out = []
        for c in cells(self.runs):
            if {self.low, self.sat, math.inf} <= set(c.index):
                gap = c.loc[self.low, "val_loss"] - c.loc[math.inf, "val_loss"]
                if gap > 0:
                    out.append((c.loc[self.low, "val_loss"] - c.loc[self.sat, "val_loss"]) / gap)
        return out

    def _degradations(self) -> tuple[np.ndarray, np.ndarray]:
        low, fp = [], []
        col = f"val_loss_ptq{self.post_bits}"
        for c in cells(self.runs):
            if {self.train_bits, math.inf} <= set(c.index):
                low.append(c.loc[self.train_bits, col] - c.loc[self.train_bits, "val_loss"])
                fp.append(c.loc[math.inf, col] - c.loc[math.inf, "val_loss"])
        return np.asarray(low), np.asarray(fp)

    def _rows(self, bits: float) -> np.ndarray:
        return (self.runs["train_bits"] == bits).to_numpy()

    def share(self, e: float, rng) -> pd.DataFrame:
        out = self.runs.copy()
        key = ["d_model", "tokens_per_param"]
        low = out[self._rows(self.low)].set_index(key)["val_loss"]
        fp = out[self._rows(math.inf)].set_index(key)["val_loss"]
        sat = self._rows(self.sat)
        idx = pd.MultiIndex.from_frame(out.loc[sat, key])
        gap = (low - fp).reindex(idx).to_numpy()
        draws = e + self.share_sd * rng.standard_normal(sat.sum())
        out.loc[sat, "val_loss"] = low.reindex(idx).to_numpy() - draws * gap
        return out

    def ptq_growth(self, e: float, rng) -> pd.DataFrame:
        out = self.runs.copy()
        fp = self._rows(math.inf)
        b0, b_d, b_n = self.ptq_beta
        log_d = np.log(out.loc[fp, "tokens"].to_numpy(float))
        log_n = np.log(out.loc[fp, "n_params"].to_numpy(float))
        # the planted slope turns about the mean log D, so the level of delta stays put
        mu = b0 + b_d * log_d.mean() + e * (log_d - log_d.mean()) + b_n * log_n
        delta = np.exp(mu + self.ptq_sd * rng.standard_normal(fp.sum()))
        for b in PTQ_LOW:
            out.loc[fp, f"val_loss_ptq{b}"] = out.loc[fp, "val_loss"].to_numpy() + delta
        return out

    def robustness(self, e: float, rng) -> pd.DataFrame:
        out = self.runs.copy()
        col = f"val_loss_ptq{self.post_bits}"
        key = ["d_model", "tokens_per_param"]
        fp = out[self._rows(math.inf)].set_index(key)
        fp_delta = fp[col] - fp["val_loss"]
        low = self._rows(self.train_bits)
        idx = pd.MultiIndex.from_frame(out.loc[low, key])
        delta = e * fp_delta.reindex(idx).to_numpy() + self.robust_sd * rng.standard_normal(
            low.sum()
        )
        out.loc[low, col] = out.loc[low, "val_loss"].to_numpy() + delta
        return out


class LawSimulator:
    """Losses drawn from the fitted training law (see :class:`Simulator`)."""

    def __init__(self, runs: pd.DataFrame):
        self.runs = ok_runs(runs).reset_index(drop=True)
        self.x = training_law_inputs(self.runs)
        y = self.runs["val_loss"].to_numpy(float)
        self.k = float(self.runs["n_quantised"].max()) if len(self.runs) else 0.0
        self.fit = fit_form(PRECISION_TRAINING, self.x, y, n_boot=0, max_starts=64)
        r = np.log(PRECISION_TRAINING(self.x, **self.fit.params)) - np.log(y)
        self.sd = float(np.sqrt(r @ r / max(1, len(y) - 5)))
        self.x_star = compute_optimal_bits(1.0, self.k) if self.k > 1 else math.nan

    def draw(self, e: float, rng) -> pd.DataFrame:
        params = {**self.fit.params, "gamma": e / self.x_star}
        out = self.runs.copy()
        pred = PRECISION_TRAINING(self.x, **params)
        out["val_loss"] = pred * np.exp(self.sd * rng.standard_normal(len(out)))
        return out


def claim_specs(
    runs: pd.DataFrame,
    *,
    saturation_bits: int,
    robust_train_bits: int,
    robust_post_bits: int,
    p_star_band: list[float],
    sesoi_gamma_d: float,
    robust_ratio: float,
) -> list[ClaimSpec]:
    ok = ok_runs(runs)
    finite = ok["train_bits"][np.isfinite(ok["train_bits"])]
    low = float(finite.min()) if len(finite) else math.nan
    sim = Simulator(runs, low, saturation_bits, robust_train_bits, robust_post_bits)
    law = LawSimulator(runs)
    start = law.fit.params if law.fit.status != "failed" else None
    return [
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="gains_saturate",
            statement=f"gains from more bits saturate by {saturation_bits} bits",
            statistic=f"share of the {low:g}-bit-to-full-precision loss gap closed at "
            f"{saturation_bits} bits (mean over cells, t interval)",
            rule=Rule("above", 0.9),
            sesoi=0.1,
            sesoi_note="saturated: the bits past this precision recover less than 10% of the gap",
            effects=Effects(
                margin=0.9,
                paper=PAPER_SHARE,
                opposite=0.6,
                note="Kumar: gains saturate at ~6-7 bits",
            ),
            compute=partial(share_evidence, low=low, saturation_bits=saturation_bits),
            simulate=sim.share,
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="ptq_grows_with_data",
            statement="PTQ degradation grows with training data at fixed N",
            statistic="gamma_D: coefficient of log D in log delta_PTQ(3-4 bits) ~ log D + log N "
            "(OLS t over unquantised runs)",
            rule=Rule("above", sesoi_gamma_d),
            sesoi=sesoi_gamma_d,
            sesoi_note="delta_PTQ grows by at least 7% per doubling of D",
            effects=Effects(
                margin=sesoi_gamma_d,
                paper=PAPER_GAMMA_D,
                opposite=-PAPER_GAMMA_D,
                no_effect=0.0,
                note="Kumar App. K: gamma_D = 0.5068",
            ),
            compute=ptq_growth_evidence,
            simulate=sim.ptq_growth,
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="low_precision_training_robust",
            statement=f"a model trained at {robust_train_bits} bits degrades less under PTQ to "
            f"{robust_post_bits} bits than one trained unquantised",
            statistic=f"mean delta_PTQ({robust_train_bits}-bit trained) / mean delta_PTQ("
            "unquantised), paired by cell (Fieller)",
            rule=Rule("below", robust_ratio),
            sesoi=1 - robust_ratio,
            sesoi_note=f"at least {1 - robust_ratio:.0%} less degradation",
            effects=Effects(
                margin=robust_ratio,
                paper=PAPER_ROBUST_RATIO,
                opposite=1.2,
                no_effect=1.0,
                note="Kumar: low-precision training 'robustifies'; read as half the degradation",
            ),
            compute=partial(
                robustness_evidence, train_bits=robust_train_bits, post_bits=robust_post_bits
            ),
            simulate=sim.robustness,
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="compute_optimal_bits",
            statement="the compute-optimal training precision is 7-8 bits",
            statistic="P* minimising the fitted law at fixed C ~ N D P (Wald interval of gamma)",
            rule=Rule("within", p_star_band[0], p_star_band[1]),
            sesoi=1.0,
            sesoi_note="7-8 bits give or take one bit",
            effects=Effects(
                margin=p_star_band[1],
                paper=PAPER_P_STAR,
                opposite=p_star_band[1] + 2 * (p_star_band[1] - PAPER_P_STAR),
                note="Kumar: P* ~ 7-8 bits for integer training",
            ),
            compute=partial(p_star_evidence, start=start),
            simulate=law.draw,
            sims_share=0.25,
        ),
    ]


def claim_data(inputs: dict[str, str]) -> pd.DataFrame:
    return read_frame(inputs["runs"], CONTRACT.summary_schema())
