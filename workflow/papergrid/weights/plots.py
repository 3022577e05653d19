"""Figures of the weights experiment. They only read tables and matrices; nothing is fitted here."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.fit import POWER_LAW
from papergrid.io import save_figure
from papergrid.plotting import placeholder, placeholders_if_nothing_learned
from papergrid.weights.analysis import UNMATCHED
from papergrid.weights.schema import CONTRACT


def stamp_figure(matrices: Mapping[tuple[str, int], Mapping[str, np.ndarray]]):
    """|W| of the hidden-to-hidden matrix at init and after training, per optimizer and width."""
    plotting.setup()
    opts = sorted({k[0] for k in matrices})
    widths = sorted({k[1] for k in matrices})
    fig, axes = plt.subplots(
        len(opts), 2 * len(widths), figsize=(2.2 * 2 * len(widths), 2.3 * len(opts)), squeeze=False
    )
    for i, opt in enumerate(opts):
        for j, width in enumerate(widths):
            m = matrices[(opt, width)]
            for k, (key, label) in enumerate((("w_init", "init"), ("w_final", "trained"))):
                ax = axes[i, 2 * j + k]
                w = np.abs(m[key])
                # imshow, not sns.heatmap: a mesh of 65k cells per panel takes seconds
                ax.imshow(
                    w,
                    cmap="mako",
                    vmin=0,
                    vmax=float(np.quantile(w, 0.99)),
                    interpolation="nearest",
                )
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{opt}, width {width}, {label}", fontsize=8)
    fig.suptitle("|W| of the stamped hidden-to-hidden matrix", y=1.0)
    fig.tight_layout()
    return fig


def scaling_figure(read: pd.DataFrame, fits: pd.DataFrame, auc_threshold: float):
    """At the matched loss, per arm: fc2's relative deviation (with fitted power laws), the
    same net of weight decay's deterministic shrink, and the mask AUC, versus width."""
    plotting.setup()
    ok = read[read["status"] == "ok"]
    order = sorted(ok["optimizer"].unique())
    palette = dict(zip(order, sns.color_palette(n_colors=len(order)), strict=True))
    fig, (ax_dev, ax_ang, ax_auc) = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, y in ((ax_dev, "dev_fc2"), (ax_ang, "net_dev_fc2")):
        sns.scatterplot(
            data=ok,
            x="width",
            y=y,
            hue="optimizer",
            hue_order=order,
            palette=palette,
            ax=ax,
            alpha=0.7,
            legend=ax is ax_dev,
        )
    for opt, color in palette.items():
        sel = (
            fits[(fits["optimizer"] == opt) & (fits["layer"] == "fc2")] if not fits.empty else fits
        )
        if sel.empty:
            continue
        params = dict(zip(sel["param"], sel["value"], strict=True))
        xs = np.geomspace(ok["width"].min(), ok["width"].max(), 50)
        ax_dev.plot(
            xs,
            POWER_LAW({"x": xs}, **params),
            color=color,
            lw=1,
            label=f"{opt} fit k={params['k']:.2f}",
        )
    ax_dev.set(xscale="log", yscale="log", xlabel="width", ylabel="||W - W0|| / ||W0|| (fc2)")
    ax_dev.legend(fontsize=6)
    ax_ang.set(
        xscale="log", yscale="log", xlabel="width", ylabel="||W/s - W0|| / ||W0|| (fc2, net)"
    )
    sns.lineplot(
        data=ok,
        x="width",
        y="mask_auc",
        hue="optimizer",
        hue_order=order,
        palette=palette,
        marker="o",
        ax=ax_auc,
        errorbar=("ci", 95),
        legend=False,
    )
    ax_auc.axhline(auc_threshold, ls="--", color="grey", lw=1, label="claims' threshold")
    ax_auc.axhline(0.5, ls=":", color="grey", lw=1)
    ax_auc.set(xscale="log", xlabel="width", ylabel="mask AUC", ylim=(0.45, 1.02))
    ax_auc.legend(fontsize=7)
    for ax in (ax_dev, ax_ang, ax_auc):
        plotting.label_at(ax, ok["width"])
    fig.suptitle(f"Read at the first epoch with training loss <= {read['match_loss'].iloc[0]:g}")
    fig.tight_layout()
    return fig


def curves_figure(curves: pd.DataFrame):
    """Training loss, hidden-layer deviation and mask AUC over epochs (mean over seeds)."""
    plotting.setup()
    long = curves[curves["status"] == "ok"].melt(
        id_vars=["optimizer", "width", "epoch", "seed"],
        value_vars=["train_loss", "dev_fc2", "mask_auc"],
        var_name="metric",
    )
    grid = sns.relplot(
        data=long,
        x="epoch",
        y="value",
        hue="width",
        col="optimizer",
        row="metric",
        kind="line",
        errorbar=None,
        palette="viridis",
        height=2.2,
        aspect=1.4,
        facet_kws={"sharey": "row"},
    )
    grid.set_titles("{col_name} | {row_name}")
    return grid.figure


def figures_job(
    readings_path: str,
    fits_path: str,
    curves_path: str,
    matrices: Mapping[tuple[str, int], str],
    auc_threshold: float,
    stamps_out: str,
    scaling_out: str,
    curves_out: str,
) -> None:
    loaded = {}
    for key, path in matrices.items():
        with np.load(path) as z:
            loaded[key] = {"w_init": z["w_init"], "w_final": z["w_final"]}
    save_figure(stamp_figure(loaded), stamps_out)
    read, fits = pd.read_parquet(readings_path), pd.read_parquet(fits_path)
    if placeholders_if_nothing_learned(
        read.replace({"status": {UNMATCHED: "ok"}}), (scaling_out, curves_out)
    ):
        return
    if not (read["status"] == "ok").any():
        why = (
            f"No run reached the matched training loss {read['match_loss'].iloc[0]:g} "
            "(weights.analysis.match_loss): nothing to read; see readings.md."
        )
        save_figure(placeholder(why), scaling_out)
    else:
        save_figure(scaling_figure(read, fits, auc_threshold), scaling_out)
    save_figure(curves_figure(read_frame(curves_path, CONTRACT.curve_schema())), curves_out)
