"""Figures of the precision experiment; they read the runs and fit tables, never fit."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.fit import PRECISION_EXCESS, PTQ_DEGRADATION
from papergrid.io import save_figure
from papergrid.precision.analysis import (
    Excess,
    contrast_table,
    floor,
    fp_runs,
    ptq_points,
    unigram_level,
)
from papergrid.precision.grid import CONTRACT

GROUP_LABELS = {
    "int": "integer (w+a+kv)",
    "float": "floating point (w+a+kv)",
    "w": "weights only",
    "a": "activations only",
    "kv": "KV cache only",
}


def _params(fits: pd.DataFrame, law: str) -> dict[str, float]:
    sel = fits[fits["law"] == law]
    return dict(zip(sel["param"], sel["value"], strict=True))


def _law(runs: pd.DataFrame, fits: pd.DataFrame) -> Excess:
    p = _params(fits, "unquantised")
    nan = math.nan
    return Excess(p.get("A", nan), p.get("alpha", nan), p.get("B", nan), floor(runs), "ok")


def _gamma(fits: pd.DataFrame, group: str) -> float:
    sel = fits[(fits["law"] == f"contrast ({group})") & (fits["param"] == "gamma")]
    return float(sel["value"].iloc[0]) if len(sel) else math.nan


def format_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """Integer against floating-point training: the loss each adds to its cell's unquantised
    run, per bit width and size (mean and 95% interval over cells), with the fitted form."""
    plotting.setup()
    unigram = unigram_level(runs)
    law = _law(runs, fits)
    c = contrast_table(runs, law, unigram)
    c = c[c["group"].isin(["int", "float"]) & c["learned"]].assign(
        format=lambda d: d["group"].map(GROUP_LABELS)
    )
    sizes = sorted(c["d_model"].unique())
    fig, axes = plt.subplots(
        1, len(sizes), figsize=(3.8 * len(sizes), 3.4), sharey=True, squeeze=False
    )
    palette = {GROUP_LABELS["int"]: "#1f77b4", GROUP_LABELS["float"]: "#d62728"}
    for ax, d in zip(axes[0], sizes, strict=True):
        sub = c[c["d_model"] == d]
        sns.pointplot(
            data=sub,
            x="train_bits",
            y="delta",
            hue="format",
            palette=palette,
            native_scale=True,
            errorbar=("ci", 95),
            dodge=0.3,
            linestyle="none",
            ax=ax,
            legend=ax is axes[0][0],
        )
        u = float(law.u(sub["n_params"].iloc[0])) if len(sub) else math.nan
        bits = np.linspace(2.5, 9, 100)
        for group in ("int", "float"):
            g = _gamma(fits, group)
            if math.isfinite(g):
                f = 1 - np.exp(-bits / g)
                ax.plot(
                    bits,
                    u * (f ** (-3 * law.alpha) - 1),
                    color=palette[GROUP_LABELS[group]],
                    lw=1,
                    label=None,
                )
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        ax.set(
            yscale="symlog",
            title=f"d_model {d} (N {int(sub['n_params'].iloc[0]):,})" if len(sub) else "",
            xlabel="training bits",
            ylabel="loss - unquantised loss (nats/token)",
        )
        ax.set_yscale("symlog", linthresh=0.01)
    fig.tight_layout()
    return fig


def neff_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """N_eff / N each quantised run implies under the unquantised law (from its within-cell
    contrast), per setting group, with each group's fitted (1 - exp(-P/gamma))^k."""
    plotting.setup()
    unigram = unigram_level(runs)
    law = _law(runs, fits)
    c = contrast_table(runs, law, unigram)
    c = c[c["learned"] & (c["group"] != "")].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        c["neff_ratio"] = (1 + c["delta"] / c["u"]) ** (-1 / law.alpha)
    c["setting group"] = c["group"].map(GROUP_LABELS)
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    palette = dict(zip(GROUP_LABELS.values(), sns.color_palette("tab10", 5), strict=True))
    sns.stripplot(
        data=c,
        x="train_bits",
        y="neff_ratio",
        hue="setting group",
        palette=palette,
        native_scale=True,
        dodge=False,
        alpha=0.6,
        size=3,
        ax=ax,
    )
    bits = np.linspace(2, 9, 100)
    for group, label in GROUP_LABELS.items():
        g = _gamma(fits, group)
        if math.isfinite(g):
            k = 3 if group in ("int", "float") else 1
            ax.plot(bits, (1 - np.exp(-bits / g)) ** k, color=palette[label], lw=1)
    ax.set(xlabel="training bits", ylabel="N_eff / N", ylim=(0, 1.4))
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def ptq_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """delta_PTQ versus D per P_post and model size, with the fitted law."""
    plotting.setup()
    pts = ptq_points(runs, unigram_level(runs))
    p = _params(fits, "ptq")
    sizes = sorted(pts["d_model"].unique())
    fig, axes = plt.subplots(
        1, len(sizes), figsize=(3.6 * len(sizes), 3.4), sharey=True, squeeze=False
    )
    posts = sorted(pts["p_post"].unique())
    palette = dict(zip(posts, sns.color_palette("rocket", len(posts)), strict=True))
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
        if not sub.empty and p:
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
    """The unquantised runs' loss above the exact floor against D, per size, with stage 1."""
    plotting.setup()
    fp = fp_runs(runs, unigram_level(runs))
    law = _law(runs, fits)
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    sizes = sorted(fp["d_model"].unique())
    palette = dict(zip(sizes, sns.color_palette("crest", len(sizes)), strict=True))
    sns.scatterplot(
        data=fp.assign(excess=fp["val_loss"] - law.E),
        x="tokens",
        y="excess",
        hue="d_model",
        palette=palette,
        ax=ax,
    )
    for d in sizes:
        sub = fp[fp["d_model"] == d]
        ds = np.geomspace(sub["tokens"].min(), sub["tokens"].max(), 50)
        n = np.full_like(ds, float(sub["n_params"].iloc[0]))
        ax.plot(
            ds,
            PRECISION_EXCESS({"N": n, "D": ds}, A=law.A, alpha=law.alpha, B=law.B),
            color=palette[d],
            lw=1,
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="training tokens D",
        ylabel=f"loss - E (E = {law.E:.4f}, exact)",
    )
    fig.tight_layout()
    return fig


def capacity_figure(capacity: pd.DataFrame):
    """Bits of knowledge stored against N (every parameter), as trained and after int8 and
    int4 post-training quantisation, with the paper's 2 bits per parameter and the facts'
    information content."""
    plotting.setup()
    ok = capacity[capacity["status"] == "ok"]
    long = ok.melt(
        id_vars=["n_params_total", "seed"],
        value_vars=["bits_stored_fp", "bits_stored_int8", "bits_stored_int4"],
        var_name="weights",
        value_name="bits",
    )
    long["weights"] = long["weights"].map(
        {
            "bits_stored_fp": "as trained",
            "bits_stored_int8": "int8 PTQ",
            "bits_stored_int4": "int4 PTQ",
        }
    )
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    sns.pointplot(
        data=long,
        x="n_params_total",
        y="bits",
        hue="weights",
        native_scale=True,
        errorbar=("ci", 95),
        dodge=False,
        markers=["o", "s", "^"],
        linestyle="none",
        ax=ax,
    )
    if len(ok):
        ns = np.linspace(0, float(ok["n_params_total"].max()) * 1.1, 10)
        ax.plot(ns, 2 * ns, color="grey", ls="--", lw=1, label="2 bits per parameter")
        ax.axhline(
            float(ok["info_bits"].iloc[0]),
            color="black",
            ls=":",
            lw=1,
            label="information in the facts",
        )
    ax.set(xlabel="N (every parameter)", ylabel="bits of knowledge stored")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures_job(
    runs_path: str, fits_path: str, capacity_path: str, outputs: dict[str, str]
) -> None:
    from papergrid.precision.capacity import CONTRACT as CAPACITY

    runs, fits = read_frame(runs_path, CONTRACT.summary_schema()), pd.read_parquet(fits_path)
    save_figure(
        capacity_figure(read_frame(capacity_path, CAPACITY.summary_schema())), outputs["capacity"]
    )
    save_figure(format_figure(runs, fits), outputs["loss"])
    save_figure(neff_figure(runs, fits), outputs["neff"])
    save_figure(ptq_figure(runs, fits), outputs["ptq"])
    save_figure(residual_figure(runs, fits), outputs["residuals"])
