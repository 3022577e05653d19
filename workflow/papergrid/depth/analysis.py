"""Fits of the depth experiment, from the aggregated runs table (claims: papergrid.depth.claims)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.depth.grid import CONTRACT
from papergrid.fit import SATURATING_POWER_LAW, fit_form
from papergrid.io import write_parquet, write_text
from papergrid.simulate import group_slopes
from papergrid.tables import FIT_COLUMNS, markdown_table

EXPERIMENT = "depth"
LEXICAL = "add_jump"  # a primitive seen only alone, composed at test time
STRUCTURAL = "around_right"  # known words in a combination never seen, within trained lengths
FIT_METRICS = {
    "pretrain_loss": "pretraining loss",  # Petty's perplexity curves
    "val_loss": "SCAN in-distribution loss",  # the task the generalisation claims are about
}


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def seed_slopes(runs: pd.DataFrame, column: str, depths) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, slope of ``column`` on log2 depth within each seed), over ``depths``."""
    sel = ok_runs(runs)
    sel = sel[sel["depth"].isin(list(depths))]
    return group_slopes(
        np.log2(sel["depth"].to_numpy(float)),
        sel[column].to_numpy(float),
        sel["seed"].to_numpy(),
    )


def depth_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Cell means per (budget, depth), and what each step in depth buys and costs: lexical
    exact match gained per added microsecond of latency per token."""
    ok = ok_runs(runs)
    cols = [
        "d_ff",
        "acc_id",
        f"acc_{LEXICAL}",
        f"acc_{STRUCTURAL}",
        "acc_length",
        "pretrain_loss",
        "pretrain_start_loss",
        "pretrain_step",
        "val_loss",
        "us_per_token",
    ]
    ok = ok.assign(match_gap=ok["pretrain_start_loss"] - ok["pretrain_target"])
    cols.insert(cols.index("pretrain_step") + 1, "match_gap")
    table = ok.groupby(["budget", "depth"])[cols].mean().reset_index()
    table["n_seeds"] = ok.groupby(["budget", "depth"]).size().to_numpy()
    gain = table.groupby("budget")[f"acc_{LEXICAL}"].diff()
    cost = table.groupby("budget")["us_per_token"].diff()
    table["lexical_gain_per_us"] = gain / cost
    return table


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


def fit_markdown(table: pd.DataFrame, depths: pd.DataFrame) -> str:
    cells = (
        "Cell means per depth (seeds pooled). pretrain_start_loss and pretrain_step: the "
        "checkpoint fine-tuning started from, the one closest to the highest final "
        "pretraining loss among the seed's depths (match_gap: its loss minus that target); "
        "lexical_gain_per_us: exact match on add_jump gained from the previous depth per "
        "added microsecond of inference per token.\n\n"
        + markdown_table(
            depths.assign(budget=depths["budget"].map("{:,}".format)), list(depths.columns)
        )
        + "\n"
    )
    if table.empty:
        return cells + "\nNo fit: fewer than four depths with ok runs in a budget.\n"
    return (
        cells + "\nLoss versus depth per budget, L(depth) = L_inf + c * depth^-k; 95% bootstrap "
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
    write_text(fit_markdown(table, depth_table(runs)), md_out)
