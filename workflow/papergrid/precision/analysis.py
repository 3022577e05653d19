"""Fits of the precision experiment, from the aggregated runs table (claims:
papergrid.precision.claims)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.fit import (
    PRECISION_TRAINING,
    PTQ_DEGRADATION,
    FitResult,
    fit_form,
)
from papergrid.io import write_parquet, write_text
from papergrid.lm.data.markov import MarkovSource
from papergrid.precision.grid import CONTRACT, PTQ_BITS
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
    table = fit_table(
        read_frame(runs_path, CONTRACT.summary_schema()), n_boot=n_boot, level=level, n_jobs=threads
    )
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


# Kumar et al. (2024) for the calibration's planted effects (papers.md, "Kumar")
