"""Figures of the precision experiment; they read the runs and fit tables, never fit."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.fit import PRECISION_TRAINING, PTQ_DEGRADATION
from papergrid.io import save_figure
from papergrid.precision.analysis import ok_runs, ptq_points, training_law_inputs
from papergrid.precision.grid import CONTRACT


def _params(fits: pd.DataFrame, law: str) -> dict[str, float]:
    sel = fits[fits["law"] == law]
    return dict(zip(sel["param"], sel["value"], strict=True))


def _label(bits: float) -> str:
    return "full" if math.isinf(bits) else f"{bits:g}-bit"


def loss_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """Held-out loss versus N per training precision, one panel per D/N, with the fitted law."""
    plotting.setup()
    ok = ok_runs(runs).assign(precision=lambda d: d["train_bits"].map(_label))
    order = [_label(b) for b in sorted(ok["train_bits"].unique())]
    ratios = sorted(ok["tokens_per_param"].unique())
    fig, axes = plt.subplots(
        1, len(ratios), figsize=(3.6 * len(ratios), 3.4), sharey=True, squeeze=False
    )
    p = _params(fits, "training")
    palette = dict(zip(order, sns.color_palette("viridis", len(order)), strict=True))
    k = float(ok["n_quantised"].max())
    for ax, ratio in zip(axes[0], ratios, strict=True):
        sub = ok[ok["tokens_per_param"] == ratio]
        sns.scatterplot(
            data=sub,
            x="n_params",
            y="val_loss",
            hue="precision",
            hue_order=order,
            palette=palette,
            ax=ax,
            legend=ax is axes[0][0],
        )
        ns = np.geomspace(sub["n_params"].min(), sub["n_params"].max(), 50)
        for bits in sorted(sub["train_bits"].unique()):
            x = {
                "N": ns,
                "D": ratio * ns,
                "P": np.full_like(ns, bits),
                "k": np.full_like(ns, 0.0 if math.isinf(bits) else k),
            }
            ax.plot(ns, PRECISION_TRAINING(x, **p), color=palette[_label(bits)], lw=1)
        ax.axhline(p["E"], ls=":", color="grey", lw=1)
        ax.set(
            xscale="log",
            title=f"D/N = {ratio:g}",
            xlabel="N (non-embedding)",
            ylabel="held-out loss (nats/token)",
        )
        plotting.label_at(ax, sub["n_params"])
    fig.tight_layout()
    return fig


def neff_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """N_eff / N implied by each quantised run under the fitted law, with the fitted curve."""
    plotting.setup()
    p = _params(fits, "training")
    ok = ok_runs(runs)
    q = ok[np.isfinite(ok["train_bits"])].copy()
    resid = q["val_loss"] - p["B"] * q["tokens"] ** -p["alpha"] - p["E"]
    with np.errstate(invalid="ignore"):
        q["neff_ratio"] = (resid / p["A"]) ** (-1 / p["alpha"]) / q["n_params"]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    sns.scatterplot(data=q, x="train_bits", y="neff_ratio", hue="d_model", ax=ax, palette="crest")
    bits = np.linspace(q["train_bits"].min(), 16, 100)
    k = float(q["n_quantised"].max())
    ax.plot(
        bits,
        (1 - np.exp(-bits / p["gamma"])) ** k,
        color="black",
        lw=1,
        label=f"fit: gamma = {p['gamma']:.2f}, k = {k:g}",
    )
    ax.set(xlabel="training precision (bits)", ylabel="N_eff / N", ylim=(0, 1.3))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def ptq_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """delta_PTQ versus D per P_post and model size, with the fitted law."""
    plotting.setup()
    pts = ptq_points(runs)
    p = _params(fits, "ptq")
    sizes = sorted(pts["d_model"].unique())
    fig, axes = plt.subplots(
        1, len(sizes), figsize=(3.6 * len(sizes), 3.4), sharey=True, squeeze=False
    )
    palette = dict(zip(sorted(pts["p_post"].unique()), sns.color_palette("rocket", 5), strict=True))
    for ax, d in zip(axes[0], sizes, strict=True):
        sub = pts[(pts["d_model"] == d) & (pts["delta"] > 0)]
        sns.scatterplot(
            data=sub,
            x="tokens",
            y="delta",
            hue="p_post",
            palette=palette,
            ax=ax,
            legend=ax is axes[0][0],
        )
        if not sub.empty:
            ds = np.geomspace(sub["tokens"].min(), sub["tokens"].max(), 50)
            n = float(sub["n_params"].iloc[0])
            for b, color in palette.items():
                x = {"N": np.full_like(ds, n), "D": ds, "P_post": np.full_like(ds, b)}
                ax.plot(ds, PTQ_DEGRADATION(x, **p), color=color, lw=1)
        ax.set(
            xscale="log",
            yscale="log",
            title=f"d_model {d}",
            xlabel="training tokens D",
            ylabel="delta_PTQ (nats/token)",
        )
    fig.tight_layout()
    return fig


def residual_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    plotting.setup()
    ok = ok_runs(runs)
    p = _params(fits, "training")
    x = training_law_inputs(ok)
    res = ok.assign(
        log_residual=np.log(ok["val_loss"]) - np.log(PRECISION_TRAINING(x, **p)),
        precision=ok["train_bits"].map(_label),
    )
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    sns.scatterplot(
        data=res, x="n_params", y="log_residual", hue="precision", style="precision", ax=ax
    )
    ax.axhline(0, color="grey", lw=1)
    ax.set(xscale="log", xlabel="N (non-embedding)", ylabel="log(observed / fitted loss)")
    plotting.label_at(ax, res["n_params"])
    fig.tight_layout()
    return fig


def figures_job(runs_path: str, fits_path: str, outputs: dict[str, str]) -> None:
    runs, fits = read_frame(runs_path, CONTRACT.summary_schema()), pd.read_parquet(fits_path)
    save_figure(loss_figure(runs, fits), outputs["loss"])
    save_figure(neff_figure(runs, fits), outputs["neff"])
    save_figure(ptq_figure(runs, fits), outputs["ptq"])
    save_figure(residual_figure(runs, fits), outputs["residuals"])
