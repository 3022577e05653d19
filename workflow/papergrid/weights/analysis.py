"""Readings and fits of the weights experiment, from the aggregated runs and curves.

Jesus et al.'s claim is that wider networks move less *to reach a given loss*; arms that
end at different fit levels, or keep drifting after they fit (Adam), are not compared at
their last epoch. :func:`readings` reads every run at the first epoch its training loss
reaches ``match_loss`` (a run that never does is ``unmatched``, kept and counted), and at
its end, whose ratio is the drift after fitting. The fit table (a power law per arm and
layer, bootstrap over seeds within width) describes the readings; the claims
(papergrid.weights.claims) use statistics on the independent units, the seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.fit import POWER_LAW, FitResult, fit_form
from papergrid.io import write_parquet, write_text
from papergrid.stats import t_mean
from papergrid.tables import FIT_COLUMNS, markdown_table
from papergrid.weights.model import LAYERS
from papergrid.weights.schema import CONTRACT

EXPERIMENT = "weights"
UNMATCHED = "unmatched"  # learned, but never reached the matched training loss
READ_METRICS = tuple(
    [f"dev_{layer}" for layer in LAYERS] + [f"angle_{layer}" for layer in LAYERS] + ["mask_auc"]
)


def angle(cos: np.ndarray) -> np.ndarray:
    """Angle in radians from a cosine (rounding can put a cosine a hair above 1)."""
    return np.arccos(np.clip(np.asarray(cos, dtype=float), -1.0, 1.0))


def net_deviation(norm: np.ndarray, cos: np.ndarray, shrink: np.ndarray) -> np.ndarray:
    """||W / s - W0|| / ||W0||: the relative deviation with decay's deterministic shrink s
    (the product of (1 - rate x wd) over the steps) divided out. With q = ||W|| / (s ||W0||),
    it is sqrt(q^2 - 2 q cos + 1); equal to the relative deviation without decay (s = 1)."""
    q = np.asarray(norm, dtype=float) / np.asarray(shrink, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.maximum(q**2 - 2 * q * np.asarray(cos, dtype=float) + 1, 0.0))


def readings(runs: pd.DataFrame, curves: pd.DataFrame, match_loss: float) -> pd.DataFrame:
    """One row per run: its grid keys and status (``unmatched`` for an ok run that never
    reached ``match_loss``), the epoch it first did (``match_epoch``, epochs after 0), every
    layer's relative deviation and angle to its initial weights and the mask AUC there,
    and the hidden layer's deviation at the end with ``drift_fc2`` = log(end / matched)."""
    keys = ["optimizer", "width", "seed"]
    base = runs[[*keys, "status", "lr", "hidden_lr", "weight_decay", "epochs_run"]].copy()
    c = curves[curves["epoch"] > 0].sort_values([*keys, "epoch"])
    hit = c[c["train_loss"] <= match_loss].groupby(keys, sort=False).head(1)
    layered = [f"{p}_{layer}" for p in ("dev", "cos", "norm") for layer in LAYERS]
    at = hit[[*keys, "epoch", "step", "train_loss", "mask_auc", *layered]]
    at = at.rename(
        columns={"epoch": "match_epoch", "step": "match_step", "train_loss": "match_train_loss"}
    )
    for layer in LAYERS:
        at[f"angle_{layer}"] = angle(at.pop(f"cos_{layer}"))
    out = base.merge(at, on=keys, how="left")
    end = runs[[*keys, "dev_fc2", "train_loss"]].rename(
        columns={"dev_fc2": "end_dev_fc2", "train_loss": "end_train_loss"}
    )
    out = out.merge(end, on=keys, how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["drift_fc2"] = np.log(out["end_dev_fc2"] / out["dev_fc2"])
    # e-folds of shrink fc2 had received from decay by the match (rate x coefficient x steps):
    # narrow networks take more steps to fit, so they receive more of a dose set per run
    out["decay_at_match"] = out["hidden_lr"] * out["weight_decay"] * out["match_step"]
    out["net_dev_fc2"] = net_deviation(
        out["norm_fc2"].to_numpy(float),
        np.cos(out["angle_fc2"].to_numpy(float)),
        (1 - out["hidden_lr"] * out["weight_decay"]).to_numpy(float) ** out["match_step"],
    )
    out.loc[(out["status"] == "ok") & out["match_epoch"].isna(), "status"] = UNMATCHED
    out["match_loss"] = float(match_loss)
    return out.sort_values(keys).reset_index(drop=True)


def readings_table(read: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per arm and width: runs that reached the matched loss, the epoch and loss there,
    every layer's deviation, fc2's net deviation, angle, AUC and decay received there
    (means over reached seeds), the slopes to the next width, and the drift after fitting
    with its t interval over seeds."""
    rows = []
    local = local_slopes(read)  # of the deviation net of decay's shrink, and the angle
    for (opt, width), g in read.groupby(["optimizer", "width"], sort=True):
        ok = g[g["status"] == "ok"]
        drift = t_mean(ok["drift_fc2"].to_numpy(float), "seeds")
        lo, hi = drift.interval(level)
        rows.append(
            {
                "optimizer": opt,
                "width": int(width),
                "reached": f"{len(ok)}/{len(g)}",
                "match_epoch": ok["match_epoch"].mean(),
                "match_train_loss": ok["match_train_loss"].mean(),
                **{
                    m: ok[m].mean()
                    for m in ("dev_fc1", "dev_fc2", "dev_fc3", "net_dev_fc2", "angle_fc2")
                },
                "mask_auc": ok["mask_auc"].mean(),
                "decay_at_match": ok["decay_at_match"].mean(),
                **local.get((opt, int(width)), {"k_dev_next": np.nan, "k_angle_next": np.nan}),
                "end_dev_fc2": ok["end_dev_fc2"].mean(),
                "drift_fc2": drift.estimate,
                "drift_low": lo,
                "drift_high": hi,
            }
        )
    return pd.DataFrame(rows)


def local_slopes(read: pd.DataFrame) -> dict[tuple[str, int], dict[str, float]]:
    """Per arm and width, the slope of mean log deviation net of decay's shrink (the
    deviation itself without decay) and of mean log angle (fc2) from this width to the
    next wider one: where the relation bends, one exponent for the whole
    range describes the range, and these show where it bends."""
    ok = read[read["status"] == "ok"]
    out: dict[tuple[str, int], dict[str, float]] = {}
    for opt, g in ok.groupby("optimizer", sort=True):
        means = (
            g.assign(ld=np.log(g["net_dev_fc2"]), la=np.log(g["angle_fc2"]), lw=np.log(g["width"]))
            .groupby("width")[["ld", "la", "lw"]]
            .mean()
        )
        for (w, a), (_, b) in zip(means.iterrows(), means.iloc[1:].iterrows(), strict=False):
            dw = b["lw"] - a["lw"]
            out[(opt, int(w))] = {
                "k_dev_next": (b["ld"] - a["ld"]) / dw,
                "k_angle_next": (b["la"] - a["la"]) / dw,
            }
    return out


READINGS_COLUMNS = (
    "optimizer",
    "width",
    "reached",
    "match_epoch",
    "match_train_loss",
    "dev_fc1",
    "dev_fc2",
    "dev_fc3",
    "net_dev_fc2",
    "angle_fc2",
    "mask_auc",
    "decay_at_match",
    "k_dev_next",
    "k_angle_next",
    "end_dev_fc2",
    "drift_fc2",
    "drift_low",
    "drift_high",
)


def readings_job(
    runs_path: str, curves_path: str, match_loss: float, level: float, parquet_out: str, md_out: str
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    curves = read_frame(curves_path, CONTRACT.curve_schema())
    read = readings(runs, curves, match_loss)
    write_parquet(pa.Table.from_pandas(read, preserve_index=False), parquet_out)
    table = readings_table(read, level)
    text = (
        f"Each run read at the first epoch its training loss is at most {match_loss:g} "
        "(`weights.analysis.match_loss`); reached: runs that got there, of those trained "
        "(the others are counted as `unmatched` and left out of every mean and claim); "
        "match_train_loss: the loss there (an epoch can overshoot the level). "
        "dev: ||W-W0||/||W0|| per layer; angle: arccos of cos(W, W0) in radians, blind to "
        "a uniform shrink; net_dev_fc2: fc2's deviation with weight decay's deterministic "
        "shrink divided out (equal to dev_fc2 without decay); mask_auc: the stamp in fc2, per "
        "entry. decay_at_match: the e-folds "
        "of shrink weight decay had applied to fc2 by the match (lr x wd x steps). "
        "k_dev_next, k_angle_next: slope of mean log net deviation (angle) from this width to "
        "the next, where one exponent for the range bends. end_dev_fc2: fc2's deviation at the "
        "last epoch; drift_fc2: mean over seeds of log(end / matched), how far the hidden "
        f"layer moved after fitting, with its {level:.0%} t interval (drift_low, drift_high)."
        "\n\n"
    )
    if table.empty:
        text += "No runs.\n"
    else:
        text += markdown_table(table, list(READINGS_COLUMNS))
    write_text(text, md_out)


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that trained, evaluated cleanly and reached the matched loss; diverged, failed
    and unmatched runs never enter fits."""
    return runs[runs["status"] == "ok"]


def fit_deviation(
    runs: pd.DataFrame, layer: str, *, n_boot: int, level: float, seed: int = 0, n_jobs: int = 1
) -> FitResult | None:
    """Power law of relative deviation at the matched loss versus width for one arm's
    readings.

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
    readings_path: str, n_boot: int, level: float, threads: int, parquet_out: str, md_out: str
) -> None:
    table = fit_table(pd.read_parquet(readings_path), n_boot=n_boot, level=level, n_jobs=threads)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table), md_out)


def fit_markdown(table) -> str:
    if table.empty:
        return "No fit: fewer than two widths with runs that reached the matched loss.\n"
    return (
        "Power law ||W-W0||/||W0|| = A * width^k at the matched loss, per arm and layer "
        "(every layer: fc2 carries the stamp and the claims); 95% bootstrap "
        "intervals (seeds resampled within width); heldout_are: mean relative error "
        "predicting the widest width from the others.\n\n"
        + markdown_table(table, ["optimizer", "layer", *FIT_COLUMNS])
    )
