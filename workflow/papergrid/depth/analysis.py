"""Fits of the depth experiment, from the aggregated runs table (claims: papergrid.depth.claims)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.depth.grid import CONTRACT
from papergrid.fit import SATURATING_POWER_LAW, fit_form
from papergrid.io import write_parquet, write_text
from papergrid.tables import FIT_COLUMNS, markdown_table

EXPERIMENT = "depth"
COMPOSITIONAL = ("around_right", "add_jump")  # the out-of-distribution tests depth should help
FIT_METRICS = {
    "lm_loss": "Markov LM loss",  # Petty's perplexity curves
    "val_loss": "SCAN in-distribution loss",  # the task the generalisation claims are about
}


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def with_ood(runs: pd.DataFrame) -> pd.DataFrame:
    """Adds ``acc_ood``: mean exact match over the compositional tests."""
    out = runs.copy()
    out["acc_ood"] = out[[f"acc_{t}" for t in COMPOSITIONAL]].mean(axis=1)
    return out


def fit_budget(
    runs: pd.DataFrame, metric: str, *, n_boot: int, level: float, n_jobs: int
) -> list[dict]:
    """L(depth) = L_inf + c depth^-k on one budget's ok runs (seeds resampled within
    depth). Descriptive: the saturation claim reads the cell means directly."""
    depth = runs["depth"].to_numpy(float)
    y = runs[metric].to_numpy(float)
    keep = np.isfinite(y)
    depth, y = depth[keep], y[keep]
    if len(np.unique(depth)) < 4:  # three parameters need four depths to leave a residual
        return []
    fit = fit_form(
        SATURATING_POWER_LAW,
        {"x": depth},
        y,
        n_boot=n_boot,
        level=level,
        groups=depth,
        n_jobs=n_jobs,
    )
    return fit.rows(budget=int(runs["budget"].iloc[0]), metric=metric)


def fit_table(runs: pd.DataFrame, *, n_boot: int, level: float, n_jobs: int = 1) -> pd.DataFrame:
    ok = ok_runs(runs)
    rows = []
    for metric in FIT_METRICS:
        for _, group in ok.groupby("budget"):
            rows += fit_budget(group, metric, n_boot=n_boot, level=level, n_jobs=n_jobs)
    return pd.DataFrame(rows)


def fit_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "No fit: fewer than four depths with ok runs in every budget.\n"
    return (
        "Loss versus depth per budget, L(depth) = L_inf + c * depth^-k; 95% bootstrap "
        "intervals (seeds resampled within depth); descriptive: the saturation claims read the "
        "cell means. heldout_are is not computed here (no extrapolation target).\n\n"
        + markdown_table(table, ["metric", "budget", *FIT_COLUMNS])
    )


def fit_job(
    runs_path: str, n_boot: int, level: float, threads: int, parquet_out: str, md_out: str
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    table = fit_table(runs, n_boot=n_boot, level=level, n_jobs=threads)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table), md_out)
