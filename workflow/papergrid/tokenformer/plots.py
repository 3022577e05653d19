"""Figures of the TokenFormer experiment; they read the runs and curves tables."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.io import save_figure
from papergrid.tokenformer.analysis import ARM_ORDER, RUNS_SCHEMA
from papergrid.tokenformer.grid import CONTRACT, LAYERS, SCRATCH


def run_label(arm: str, layer: str, steps: int) -> str:
    if arm == SCRATCH:
        return f"scratch {layer} {steps} steps"
    return arm


def growth_jumps(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, growth): validation loss just after minus just before it."""
    rows = []
    for run_id, c in curves.groupby("run_id"):
        c = c.sort_values(["step", "stage"])
        for k in sorted(set(c["stage"]) - {0}):
            before = c[c["stage"] == k - 1]["val_loss"].iloc[-1]
            after = c[c["stage"] == k]["val_loss"].iloc[0]
            first = c.iloc[0]
            rows.append(
                {
                    "run_id": run_id,
                    "arm": first["arm"],
                    "seed": first["seed"],
                    "growth": int(k),
                    "jump": float(after - before),
                }
            )
    return pd.DataFrame(rows, columns=["run_id", "arm", "seed", "growth", "jump"])


def loss_compute_figure(curves: pd.DataFrame, runs: pd.DataFrame, share: float):
    """Validation loss against cumulative training FLOPs, every arm (mean over seeds; the
    scratch runs dashed), with the target loss and ``share`` of the target's FLOPs marked,
    one panel per architecture."""
    plotting.setup()
    ok = runs[runs["status"] == "ok"]["run_id"]
    c = curves[curves["run_id"].isin(ok) & (curves["flops"] > 0)].copy()  # a log axis
    c["run"] = [
        run_label(a, la, s) for a, la, s in zip(c["arm"], c["layer"], c["steps"], strict=True)
    ]
    layers = [x for x in LAYERS if x in set(c["layer"])]
    fig, axes = plt.subplots(
        1, max(1, len(layers)), figsize=(5.2 * max(1, len(layers)), 3.8), sharey=True, squeeze=False
    )
    for ax, layer in zip(axes[0], layers, strict=False):
        part = c[c["layer"] == layer]
        order = sorted(set(part["run"]), key=lambda r: (r.startswith("scratch"), r))
        mean = part.groupby(["run", "step", "stage"], as_index=False)[["flops", "val_loss"]].mean()
        for i, run in enumerate(order):
            m = mean[mean["run"] == run].sort_values(["step", "stage"])
            ax.plot(
                m["flops"],
                m["val_loss"],
                ls="--" if run.startswith("scratch") else "-",
                color=sns.color_palette("colorblind")[i % 10],
                label=run,
                lw=1.3,
            )
        t = runs[(runs["layer"] == layer) & runs["target_loss"].notna()]
        if len(t):
            ax.axhline(t["target_loss"].mean(), color="grey", lw=0.8, ls=":", label="target loss")
            ax.axvline(
                share * t["target_flops"].mean(),
                color="grey",
                lw=0.8,
                ls="-.",
                label=f"{share:.3g} of its FLOPs",
            )
        floor = runs["entropy_floor"].dropna()
        if len(floor):
            ax.axhline(float(floor.iloc[0]), color="black", lw=0.8, label="entropy floor")
            # the early descent is the same for every arm: show where they differ
            ax.set_ylim(float(floor.iloc[0]) - 0.02, float(floor.iloc[0]) + 0.5)
        ax.set_xscale("log")
        ax.set_title(layer)
        ax.set_xlabel("cumulative training FLOPs")
        ax.set_ylabel("validation loss (nats/token)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def jumps_figure(curves: pd.DataFrame):
    """The loss jump at each growth, per arm: every seed a point."""
    plotting.setup()
    jumps = growth_jumps(curves)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    if jumps.empty:
        ax.text(0.5, 0.5, "no growth run", ha="center", va="center")
        ax.set_axis_off()
        return fig
    order = [a for a in ARM_ORDER if a in set(jumps["arm"])]
    sns.stripplot(data=jumps, x="arm", y="jump", hue="growth", order=order, dodge=True, ax=ax)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("growth arm")
    ax.tick_params(axis="x", labelrotation=30)  # six arm names side by side overlap
    ax.set_ylabel("loss after minus before growth (nats)")
    ax.legend(title="growth", fontsize=7)
    fig.tight_layout()
    return fig


def figures_job(runs_path: str, curves_path: str, share: float, outputs: Mapping[str, str]) -> None:
    runs = read_frame(runs_path, RUNS_SCHEMA)
    curves = read_frame(curves_path, CONTRACT.curve_schema())
    save_figure(loss_compute_figure(curves, runs, share), outputs["loss_compute"])
    save_figure(jumps_figure(curves), outputs["jumps"])
    plt.close("all")
