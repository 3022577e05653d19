"""Fits of the weights experiment, computed from the aggregated runs table.

The fit table (a power law per optimizer and layer, bootstrap over seeds within width)
describes the data; the claims (papergrid.weights.claims) use statistics on the
independent units, the seeds, so that their intervals are honest at three to ten seeds and
cheap enough to calibrate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.fit import POWER_LAW, FitResult, fit_form
from papergrid.io import write_parquet, write_text
from papergrid.tables import FIT_COLUMNS, markdown_table
from papergrid.weights.model import LAYERS
from papergrid.weights.schema import CONTRACT

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


def fit_job(
    runs_path: str, n_boot: int, level: float, threads: int, parquet_out: str, md_out: str
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
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
