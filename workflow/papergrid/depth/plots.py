"""Figures of the depth experiment; they read the runs and fit tables, never fit."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.depth.analysis import LEXICAL, STRUCTURAL, ok_runs
from papergrid.depth.grid import CONTRACT
from papergrid.fit import SATURATING_POWER_LAW
from papergrid.io import save_figure
from papergrid.lm.data.scan import COMPOSITION_TESTS
from papergrid.plotting import placeholders_if_nothing_learned


def _panels(runs: pd.DataFrame, height: float = 3.2):
    budgets = sorted(runs["budget"].unique())
    fig, axes = plt.subplots(
        1, len(budgets), figsize=(3.8 * len(budgets), height), sharey=True, squeeze=False
    )
    return fig, list(zip(axes[0], budgets, strict=True))


def _mark_narrow(ax, runs: pd.DataFrame) -> None:
    narrow = sorted(runs.loc[runs["narrow"], "depth"].unique())
    for d in narrow:
        ax.axvspan(d / 1.15, d * 1.15, color="grey", alpha=0.12, lw=0)


SPLIT_LABELS = {
    "id": "in-distribution",
    LEXICAL: f"{LEXICAL} (lexical)",
    STRUCTURAL: f"{STRUCTURAL} (structural)",
    "length": "length",
}


def accuracy_figure(runs: pd.DataFrame):
    """Exact match versus depth per budget and test split; every seed drawn, means joined.
    Shaded depths have d_ff < d_model."""
    plotting.setup()
    ok = ok_runs(runs)
    long = ok.melt(
        id_vars=["budget", "depth", "seed", "narrow"],
        value_vars=[f"acc_{t}" for t in COMPOSITION_TESTS],
        var_name="split",
        value_name="accuracy",
    )
    long["split"] = long["split"].str.removeprefix("acc_").map(SPLIT_LABELS)
    order = [SPLIT_LABELS[t] for t in COMPOSITION_TESTS]
    fig, panels = _panels(ok)
    for ax, budget in panels:
        sub = long[long["budget"] == budget]
        sns.lineplot(
            data=sub,
            x="depth",
            y="accuracy",
            hue="split",
            hue_order=order,
            errorbar=None,
            ax=ax,
            legend=False,
        )
        sns.scatterplot(
            data=sub,
            x="depth",
            y="accuracy",
            hue="split",
            hue_order=order,
            alpha=0.6,
            s=18,
            ax=ax,
            legend=ax is panels[0][0],
        )
        _mark_narrow(ax, ok[ok["budget"] == budget])
        ax.set_xscale("log", base=2)
        plotting.label_at(ax, sub["depth"])
        d_model = int(ok.loc[ok["budget"] == budget, "d_model"].iloc[0])
        ax.set_title(f"budget {budget:,} (d_model {d_model})")
        ax.set_ylabel("exact match (greedy)")
        ax.set_ylim(-0.03, 1.03)
    # beside the last panel: inside, it hides the low compositional accuracies
    first, last = panels[0][0], panels[-1][0]
    handles, labels = first.get_legend_handles_labels()
    first.get_legend().remove()
    last.legend(handles, labels, title="split", loc="upper left", bbox_to_anchor=(1.02, 1))
    return fig


def loss_figure(runs: pd.DataFrame, fits: pd.DataFrame):
    """Final pretraining loss versus depth per budget, with the fitted saturating law and
    the true source's loss on the same held-out sequences."""
    plotting.setup()
    ok = ok_runs(runs)
    fig, panels = _panels(ok)
    for ax, budget in panels:
        sub = ok[ok["budget"] == budget]
        sns.scatterplot(data=sub, x="depth", y="pretrain_loss", ax=ax, s=20, alpha=0.7)
        sel = fits[(fits["budget"] == budget) & (fits["metric"] == "pretrain_loss")]
        params = dict(zip(sel["param"], sel["value"], strict=True))
        if {"L_inf", "c", "k"} <= params.keys():
            d = np.geomspace(sub["depth"].min(), sub["depth"].max(), 60)
            p = {k: params[k] for k in ("L_inf", "c", "k")}
            ax.plot(d, SATURATING_POWER_LAW({"x": d}, **p), lw=1.2, label="fit")
        ax.axhline(sub["pretrain_floor"].iloc[0], ls=":", color="grey", lw=1, label="true source")
        _mark_narrow(ax, sub)
        ax.set_xscale("log", base=2)
        plotting.label_at(ax, sub["depth"])
        ax.set_title(f"budget {budget:,}")
        ax.set_ylabel("held-out pretraining loss (nats)")
        ax.legend(fontsize=7)
    return fig


def matched_loss_figure(runs: pd.DataFrame):
    """Lexical exact match versus in-distribution SCAN loss, coloured by depth: at equal
    ID loss, do deeper models generalise better?"""
    plotting.setup()
    ok = ok_runs(runs)
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    sns.scatterplot(
        data=ok,
        x="val_loss",
        y=f"acc_{LEXICAL}",
        hue="depth",
        style="budget",
        palette="viridis",
        ax=ax,
    )
    ax.set_xscale("log")
    ax.set_xlabel("in-distribution SCAN loss (action tokens)")
    ax.set_ylabel(f"exact match on {LEXICAL} (lexical)")
    return fig


def latency_figure(runs: pd.DataFrame):
    """Inference time per token versus depth: the latency side of the trade-off."""
    plotting.setup()
    ok = ok_runs(runs)
    fig, ax = plt.subplots(figsize=(4.4, 3.2))
    sns.lineplot(
        data=ok, x="depth", y="us_per_token", hue="budget", marker="o", errorbar="sd", ax=ax
    )
    ax.set_xscale("log", base=2)
    plotting.label_at(ax, ok["depth"])
    ax.set_ylabel("inference µs per token (1 thread)")
    return fig


def figures_job(runs_path: str, fits_path: str, outputs: dict[str, str]) -> None:
    runs, fits = read_frame(runs_path, CONTRACT.summary_schema()), pd.read_parquet(fits_path)
    if placeholders_if_nothing_learned(runs, outputs.values()):
        return
    save_figure(accuracy_figure(runs), outputs["accuracy"])
    save_figure(loss_figure(runs, fits), outputs["loss"])
    save_figure(matched_loss_figure(runs), outputs["matched"])
    save_figure(latency_figure(runs), outputs["latency"])
