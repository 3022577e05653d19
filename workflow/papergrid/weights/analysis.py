"""Fits and claims of the weights experiment, computed from the aggregated runs table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.claims import Claim, claims_markdown, claims_table, make_claim
from papergrid.fit import POWER_LAW, FitResult, fit_form
from papergrid.io import write_parquet, write_text
from papergrid.stats import mean_interval
from papergrid.tables import FIT_COLUMNS, markdown_table
from papergrid.weights.model import LAYERS, STAMPED_LAYER

EXPERIMENT = "weights"


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that trained and evaluated cleanly; diverged and failed runs never enter fits."""
    return runs[runs["status"] == "ok"]


def fit_deviation(
    runs: pd.DataFrame, layer: str, *, n_boot: int, level: float, seed: int = 0, n_jobs: int = 1
) -> FitResult | None:
    """Power law of final relative deviation versus width for one optimizer's runs.

    Seeds are resampled within each width; the widest width is held out in a second
    fit to report the extrapolation error. None when fewer than two widths remain.
    """
    runs = runs[np.isfinite(runs[f"dev_{layer}"]) & (runs[f"dev_{layer}"] > 0)]
    if runs["width"].nunique() < 2:
        return None
    widths = runs["width"].to_numpy(dtype=float)
    heldout = widths == widths.max() if runs["width"].nunique() >= 3 else None
    return fit_form(
        POWER_LAW,
        {"x": widths},
        runs[f"dev_{layer}"].to_numpy(dtype=float),
        n_boot=n_boot,
        groups=runs["width"].to_numpy(),
        heldout=heldout,
        level=level,
        seed=seed,
        n_jobs=n_jobs,
    )


def fit_table(runs: pd.DataFrame, *, n_boot: int, level: float, n_jobs: int = 1) -> pd.DataFrame:
    """One row per (optimizer, layer, parameter) of the deviation power law."""
    rows = []
    for opt, group in ok_runs(runs).groupby("optimizer", sort=True):
        for layer in LAYERS:
            result = fit_deviation(group, layer, n_boot=n_boot, level=level, n_jobs=n_jobs)
            if result is not None:
                rows += result.rows(optimizer=opt, layer=layer, target=f"dev_{layer}")
    return pd.DataFrame(rows)


def _exponent(fits: pd.DataFrame, opt: str) -> pd.Series | None:
    sel = fits[
        (fits["optimizer"] == opt) & (fits["layer"] == STAMPED_LAYER) & (fits["param"] == "k")
    ]
    return None if sel.empty else sel.iloc[0]


def claims(
    runs: pd.DataFrame, fits: pd.DataFrame, *, auc_threshold: float, level: float
) -> list[Claim]:
    """(1) wider nets deviate less and (2) the stamp survives at the widest width, per optimizer."""
    out: list[Claim] = []
    good = ok_runs(runs)
    for opt in sorted(runs["optimizer"].unique()):
        row = _exponent(fits, opt) if not fits.empty else None
        detail = ""
        if row is None:
            est, ci, n = math.nan, (math.nan, math.nan), 0
            detail = "fewer than two widths with ok runs: no fit"
        else:
            est, ci, n = row["value"], (row["ci_low"], row["ci_high"]), int(row["n_points"])
            if row["status"] != "ok":
                detail = f"fit status {row['status']}: interval not trusted"
                ci = (math.nan, math.nan)
        out.append(
            make_claim(
                EXPERIMENT,
                f"wider_deviates_less_{opt}",
                f"{opt}: wider networks deviate less from init",
                "exponent k of ||W-W0||/||W0|| (hidden layer) ~ width^k",
                est,
                ci,
                0.0,
                "below",
                n,
                detail,
            )
        )
        mine = good[good["optimizer"] == opt]
        widest = int(mine["width"].max()) if not mine.empty else 0
        aucs = mine.loc[mine["width"] == widest, "mask_auc"].to_numpy()
        mean, lo, hi = mean_interval(aucs, level)
        out.append(
            make_claim(
                EXPERIMENT,
                f"stamp_visible_{opt}",
                f"{opt}: the stamp stays visible in the widest network (width {widest})",
                "mean mask AUC over seeds at the widest width (t interval)",
                mean,
                (lo, hi),
                auc_threshold,
                "above",
                len(aucs),
                "" if len(aucs) >= 2 else "fewer than two seeds: no interval",
            )
        )
    return out


def fit_job(
    runs_path: str, n_boot: int, level: float, threads: int, parquet_out: str, md_out: str
) -> None:
    runs = pd.read_parquet(runs_path)
    table = fit_table(runs, n_boot=n_boot, level=level, n_jobs=threads)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table), md_out)


def fit_markdown(table) -> str:
    if table.empty:
        return "No fit: fewer than two widths with ok runs.\n"
    return (
        "Power law ||W-W0||/||W0|| = A * width^k per optimizer and layer; 95% bootstrap "
        "intervals (seeds resampled within width); heldout_are: mean relative error "
        "predicting the widest width from the others.\n\n"
        + markdown_table(table, ["optimizer", "layer", *FIT_COLUMNS])
    )


def claims_job(
    runs_path: str,
    fits_path: str,
    auc_threshold: float,
    level: float,
    parquet_out: str,
    md_out: str,
) -> None:
    runs = pd.read_parquet(runs_path)
    fits = pd.read_parquet(fits_path)
    found = claims(runs, fits, auc_threshold=auc_threshold, level=level)
    write_parquet(claims_table(found), parquet_out)
    write_text(claims_markdown(found), md_out)
