"""Figures of the adaptive-decoding experiment; they read the runs and prompts tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.io import save_figure
from papergrid.lpo.analysis import labelled, temperature_histogram
from papergrid.lpo.grid import CONTRACT, PROMPT_SCHEMA
from papergrid.lpo.tasks import FAMILIES

LOSS_ORDER = ("lpo", "lpo_marginal", "nll")


def temperatures_figure(prompts: pd.DataFrame, temps: Sequence[float]):
    """Share of tokens decoded at each temperature, per task family, for every head: a row
    per variant, a column per loss (every seed's test prompts pooled)."""
    plotting.setup()
    hist = temperature_histogram(prompts, temps)
    have = set(hist["run"])
    variants = [v for v in ("seq", "tok") if any(r.startswith(v + " ") for r in have)]
    losses = [x for x in LOSS_ORDER if any(r.endswith(" " + x) for r in have)]
    if not variants or not losses:  # every head failed (too few pairs): say so
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.text(0.5, 0.5, "no trained head", ha="center", va="center")
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(
        len(variants),
        len(losses),
        figsize=(3.6 * len(losses), 2.8 * len(variants)),
        sharey=True,
        squeeze=False,
    )
    for i, variant in enumerate(variants):
        for j, loss in enumerate(losses):
            ax, run = axes[i][j], f"{variant} {loss}"
            part = hist[hist["run"] == run]
            if len(part):
                sns.barplot(
                    data=part,
                    x="tau",
                    y="share",
                    hue="family",
                    hue_order=list(FAMILIES),
                    ax=ax,
                    legend=(i, j) == (0, len(losses) - 1),
                )
            ax.set_title(run)
            ax.set_xlabel("temperature" if i == len(variants) - 1 else "")
            ax.set_ylabel("share of tokens" if j == 0 else "")
    fig.tight_layout()
    return fig


def rewards_figure(runs: pd.DataFrame):
    """Test reward per family at every fixed temperature (mean over seeds, 95% t band),
    with the heads (decoded at their argmax temperature, as the claims read them) and the
    selector as horizontal lines; the sampled rows are in rewards.md."""
    plotting.setup()
    d = labelled(runs[(runs["status"] == "ok") & (runs["decode"] != "sample")])
    panels = ["mixed", *FAMILIES]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2), sharey=True)
    fixed = d[d["method"] == "fixed"]
    others = d[d["method"] != "fixed"]
    palette = dict(zip(sorted(others["run"].unique()), sns.color_palette("tab10"), strict=False))
    for ax, panel in zip(axes, panels, strict=True):
        col = "reward_mean" if panel == "mixed" else f"reward_{panel}"
        sns.lineplot(
            data=fixed,
            x="tau",
            y=col,
            marker="o",
            color="black",
            errorbar=("ci", 95),
            ax=ax,
            label="fixed temperature",
        )
        for run, part in others.groupby("run"):
            ax.axhline(part[col].mean(), color=palette[run], ls="--", lw=1.2, label=run)
        ax.set_title(panel)
        ax.set_xlabel("temperature")
        ax.set_ylabel("test reward")
        if ax is not axes[-1]:
            ax.get_legend().remove()
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def positions_figure(runs: pd.DataFrame):
    """Per-token heads (argmax decoding) on the constraint prompts: mean temperature at
    segment starts and elsewhere, every seed a point."""
    plotting.setup()
    tok = (runs["variant"] == "tok") & (runs["decode"] == "argmax")
    d = labelled(runs[(runs["status"] == "ok") & tok])
    long = d.melt(
        id_vars=["run", "seed"],
        value_vars=["tau_constrained", "tau_free"],
        var_name="position",
        value_name="temperature",
    )
    long["position"] = long["position"].map(
        {"tau_constrained": "segment start", "tau_free": "elsewhere"}
    )
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if len(long):
        sns.stripplot(
            data=long, x="run", y="temperature", hue="position", dodge=True, jitter=0.1, ax=ax
        )
    ax.set_xlabel("")
    ax.set_ylabel("mean temperature (constraint prompts)")
    ax.set_ylim(-0.05, 1.05)
    fig.tight_layout()
    return fig


def figures_job(
    runs_path: str, prompts_path: str, temps: Sequence[float], outputs: Mapping[str, str]
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    prompts = read_frame(prompts_path, PROMPT_SCHEMA)
    save_figure(temperatures_figure(prompts, temps), outputs["temperatures"])
    save_figure(rewards_figure(runs), outputs["rewards"])
    save_figure(positions_figure(runs), outputs["positions"])
    plt.close("all")
