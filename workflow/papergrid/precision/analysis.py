"""Fits and claims of the precision experiment, from the aggregated runs table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.claims import Claim, claims_markdown, claims_table, make_claim
from papergrid.fit import (
    PRECISION_TRAINING,
    PTQ_DEGRADATION,
    FitResult,
    compute_optimal_bits,
    fit_form,
)
from papergrid.io import write_parquet, write_text
from papergrid.lm.data.markov import MarkovSource
from papergrid.precision.grid import PTQ_BITS
from papergrid.stats import mean_interval
from papergrid.tables import FIT_COLUMNS, markdown_table

EXPERIMENT = "precision"


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def training_law_inputs(runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The training law's variables for each run, as the fit and its residual plot see them."""
    return {
        "N": runs["n_params"].to_numpy(float),
        "D": runs["tokens"].to_numpy(float),
        "P": runs["train_bits"].to_numpy(float),
        "k": runs["n_quantised"].to_numpy(float),
    }


def fit_training_law(runs: pd.DataFrame, *, n_boot: int, level: float, n_jobs: int) -> FitResult:
    """L(N, D, P) on every ok run; the largest N is held out in a second fit to report ARE."""
    ok = ok_runs(runs)
    x = training_law_inputs(ok)
    return fit_form(
        PRECISION_TRAINING,
        x,
        ok["val_loss"].to_numpy(float),
        n_boot=n_boot,
        level=level,
        max_starts=64,
        heldout=x["N"] == x["N"].max(),
        n_jobs=n_jobs,
    )


def ptq_points(runs: pd.DataFrame) -> pd.DataFrame:
    """delta_PTQ = loss after round-to-nearest to P_post bits minus loss as trained,
    for the runs trained unquantised; one row per (run, P_post)."""
    fp = ok_runs(runs)
    fp = fp[np.isinf(fp["train_bits"])]
    rows = []
    for _, r in fp.iterrows():
        for b in PTQ_BITS:
            rows.append(
                {
                    "n_params": r["n_params"],
                    "tokens": r["tokens"],
                    "d_model": r["d_model"],
                    "tokens_per_param": r["tokens_per_param"],
                    "p_post": b,
                    "delta": r[f"val_loss_ptq{b}"] - r["val_loss"],
                }
            )
    return pd.DataFrame(rows)


def fit_ptq_law(points: pd.DataFrame, *, n_boot: int, level: float, n_jobs: int):
    """Eq. 2 in log space, so only positive degradations enter; the rest are counted."""
    pos = points[points["delta"] > 0]
    x = {
        "N": pos["n_params"].to_numpy(float),
        "D": pos["tokens"].to_numpy(float),
        "P_post": pos["p_post"].to_numpy(float),
    }
    result = fit_form(
        PTQ_DEGRADATION,
        x,
        pos["delta"].to_numpy(float),
        n_boot=n_boot,
        level=level,
        max_starts=64,
        n_jobs=n_jobs,
    )
    return result, int((points["delta"] <= 0).sum())


def fit_table(runs: pd.DataFrame, *, n_boot: int, level: float, n_jobs: int) -> pd.DataFrame:
    train = fit_training_law(runs, n_boot=n_boot, level=level, n_jobs=n_jobs)
    ptq, dropped = fit_ptq_law(ptq_points(runs), n_boot=n_boot, level=level, n_jobs=n_jobs)
    rows = train.rows(law="training") + ptq.rows(law="ptq")
    for row in rows:
        row["n_dropped"] = dropped if row["law"] == "ptq" else 0
    return pd.DataFrame(rows)


def fit_job(
    runs_path: str,
    n_boot: int,
    level: float,
    threads: int,
    parquet_out: str,
    md_out: str,
    markov: dict,
) -> None:
    table = fit_table(pd.read_parquet(runs_path), n_boot=n_boot, level=level, n_jobs=threads)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table, entropy_floor(markov)), md_out)


def entropy_floor(markov: dict) -> float:
    """Exact entropy rate of the config's Markov source (nats/token).

    Computed in the job, not when the Snakefile is parsed: at paper scale (65,536
    contexts) it takes seconds, which every dry run would pay."""
    keys = ("vocab", "order", "branching", "zipf_s", "smoothing")
    return MarkovSource(**{k: markov[k] for k in keys}, seed=markov["table_seed"]).entropy_rate


def fit_markdown(table: pd.DataFrame, entropy_floor: float) -> str:
    e = table[(table["law"] == "training") & (table["param"] == "E")].iloc[0]
    dropped = int(table.loc[table["law"] == "ptq", "n_dropped"].iloc[0])
    return (
        "Training law: L = A * N_eff^-alpha + B * D^-alpha + E with N_eff = N(1 - exp(-P/gamma))^k "
        "(k tensor types quantised at P bits). PTQ law: delta = C_T D^gamma_D N^-gamma_N "
        "exp(-P_post/gamma_post), on runs trained unquantised. 95% bootstrap intervals over runs; "
        "heldout_are: mean relative error predicting the largest N from the others.\n\n"
        + markdown_table(table, ["law", *FIT_COLUMNS])
        + f"\nFitted E = {e['value']:.4f} [{e['ci_low']:.4f}, {e['ci_high']:.4f}] nats/token; "
        f"the synthetic source's exact entropy floor is {entropy_floor:.4f}. "
        f"PTQ points with delta <= 0 (left out of the log-space fit): {dropped}.\n"
    )


def _param(fits: pd.DataFrame, law: str, name: str) -> pd.Series:
    return fits[(fits["law"] == law) & (fits["param"] == name)].iloc[0]


def claims(
    runs: pd.DataFrame,
    fits: pd.DataFrame,
    *,
    level: float,
    saturation_bits: int,
    robust_train_bits: int,
    robust_post_bits: int,
    p_star_band: list[float],
) -> list[Claim]:
    ok = ok_runs(runs)
    out = []

    # 1. gains saturate: share of the loss gap between the lowest precision and full
    #    precision that `saturation_bits` already closes, per (size, D/N) cell
    low = ok["train_bits"][np.isfinite(ok["train_bits"])].min()
    shares, no_gap = [], 0
    for _, cell in ok.groupby(["d_model", "tokens_per_param"]):
        by_bits = cell.set_index("train_bits")["val_loss"]
        if {low, saturation_bits, math.inf} <= set(by_bits.index):
            gap = by_bits[low] - by_bits[math.inf]
            if gap > 0:
                shares.append((by_bits[low] - by_bits[saturation_bits]) / gap)
            else:
                no_gap += 1
    mean, lo, hi = mean_interval(shares, level)
    detail = (
        f"{no_gap} cell(s) left out: their {low:g}-bit run was not worse than the unquantised one"
        if no_gap
        else ""
    )
    out.append(
        make_claim(
            EXPERIMENT,
            "gains_saturate",
            f"gains from more bits saturate by {saturation_bits} bits",
            f"share of the {low:g}-bit-to-full-precision loss gap closed at {saturation_bits} bits "
            "(mean over cells, t interval)",
            mean,
            (lo, hi),
            0.9,
            "above",
            len(shares),
            detail,
        )
    )

    # 2. delta_PTQ grows with D at fixed N: the fitted gamma_D
    g = _param(fits, "ptq", "gamma_D")
    ok_fit = g["status"] == "ok"
    out.append(
        make_claim(
            EXPERIMENT,
            "ptq_grows_with_data",
            "PTQ degradation grows with training data at fixed N",
            "exponent gamma_D of delta_PTQ ~ D^gamma_D (bootstrap)",
            g["value"],
            (g["ci_low"], g["ci_high"]) if ok_fit else (math.nan, math.nan),
            0.0,
            "above",
            int(g["n_points"]),
            "" if ok_fit else f"fit status {g['status']}",
        )
    )

    # 3. robustification: trained at low precision, quantised to fewer bits, degrades less
    diffs = []
    col = f"val_loss_ptq{robust_post_bits}"
    for _, cell in ok.groupby(["d_model", "tokens_per_param"]):
        by_bits = cell.set_index("train_bits")
        if {robust_train_bits, math.inf} <= set(by_bits.index):
            d_low = by_bits.loc[robust_train_bits, col] - by_bits.loc[robust_train_bits, "val_loss"]
            d_fp = by_bits.loc[math.inf, col] - by_bits.loc[math.inf, "val_loss"]
            diffs.append(d_low - d_fp)
    mean, lo, hi = mean_interval(diffs, level)
    out.append(
        make_claim(
            EXPERIMENT,
            "low_precision_training_robust",
            f"a model trained at {robust_train_bits} bits degrades less under PTQ to "
            f"{robust_post_bits} bits than one trained unquantised",
            f"delta_PTQ({robust_train_bits}-bit trained) - delta_PTQ(unquantised), mean over cells "
            "(t interval)",
            mean,
            (lo, hi),
            0.0,
            "below",
            len(diffs),
        )
    )

    # 4. compute-optimal precision under C ~ N * D * P, from the fitted gamma
    gam = _param(fits, "training", "gamma")
    k = float(ok["n_quantised"].max())
    p_star = compute_optimal_bits(gam["value"], k)
    if gam["status"] != "ok":
        ci, detail = (math.nan, math.nan), f"fit status {gam['status']}"
    elif k <= 1:
        ci, detail = (math.nan, math.nan), "one quantised tensor type: no interior optimum"
    else:
        ci = (compute_optimal_bits(gam["ci_low"], k), compute_optimal_bits(gam["ci_high"], k))
        detail = f"P* = gamma * x*(k={k:g}); interval from gamma's bootstrap interval"
    out.append(
        make_claim(
            EXPERIMENT,
            "compute_optimal_bits",
            "the compute-optimal training precision is 7-8 bits",
            "P* minimising the fitted law at fixed C ~ N D P",
            p_star,
            ci,
            p_star_band[0],
            "within",
            int(gam["n_points"]),
            detail,
            threshold_high=p_star_band[1],
        )
    )
    return out


def claims_job(
    runs_path: str, fits_path: str, settings: dict, parquet_out: str, md_out: str
) -> None:
    found = claims(pd.read_parquet(runs_path), pd.read_parquet(fits_path), **settings)
    write_parquet(claims_table(found), parquet_out)
    write_text(claims_markdown(found), md_out)
