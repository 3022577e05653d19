"""Figures of the post-training experiment; they read the runs and curves tables, never fit."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.io import save_figure
from papergrid.plotting import placeholders_if_nothing_learned
from papergrid.post.analysis import final_curves, skills_in, with_deltas
from papergrid.post.grid import CONTRACT


def _label(r) -> str:
    return r["method"] if np.isnan(r["beta"]) else f"{r['method']} {r['beta']:g}"


def losses_figure(runs: pd.DataFrame):
    """Accuracy change from the SFT start and response length, per loss and beta on the
    mixed arm, and per data arm; every start seed a point."""
    plotting.setup()
    d = with_deltas(runs)
    d = d[d["method"].isin(["dpo", "dpo_norm", "simpo", "wpo"])].copy()
    d["config"] = d.apply(_label, axis=1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    main = d[d["arm"] == "mixed"].sort_values("config")
    for ax, col, label in (
        (axes[0], "d_acc_mean", "accuracy change from the SFT start"),
        (axes[1], "d_response_length", "response length change (characters)"),
    ):
        sns.stripplot(
            data=main,
            x="config",
            y=col,
            hue="seed",
            palette="tab10",
            jitter=0.1,
            size=5,
            ax=ax,
            legend=ax is axes[1],
        )
        sns.pointplot(
            data=main,
            x="config",
            y=col,
            color="black",
            errorbar=None,
            markers="_",
            linestyles="none",
            ax=ax,
        )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel(label)
        ax.set_xlabel("loss, beta (mixed pairs)")
        ax.tick_params(axis="x", rotation=45)
    if axes[1].get_legend() is not None:
        sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1), title="seed")
    arms = d.sort_values("arm")
    sns.stripplot(data=arms, x="arm", y="d_acc_mean", hue="config", jitter=0.15, size=5, ax=axes[2])
    axes[2].axhline(0, color="grey", lw=0.8)
    axes[2].set_ylabel("accuracy change from the SFT start")
    axes[2].set_xlabel("pair arm")
    axes[2].tick_params(axis="x", rotation=45)
    if axes[2].get_legend() is not None:
        sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1, 1), title="loss")
    fig.tight_layout()
    return fig


def rlvr_figure(runs: pd.DataFrame, curves: pd.DataFrame, skill: str):
    """RLVR per step, per beta and start: reward, KL to the start, accuracy on the target
    skill and on the others (curve evaluations: a subset of the test prompts)."""
    plotting.setup()
    c = final_curves(curves, runs)
    c = c[c["arm"] == "rlvr"].copy()
    n = len(skills_in(runs))
    c["acc_others"] = (c["acc_mean"] * n - c["acc_target"]) / max(1, n - 1)
    c["run"] = c.apply(lambda r: f"beta {r['beta']:g}, {r['start']} start", axis=1)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    panels = (
        ("reward", "verifier score of samples"),
        ("kl", "KL to the start (nats/response)"),
        ("acc_target", f"{skill} accuracy (greedy)"),
        ("acc_others", "other skills' accuracy"),
    )
    for ax, (col, label) in zip(axes, panels, strict=True):
        sub = c[c["step"] > 0] if col in ("reward", "kl") else c
        sns.lineplot(
            data=sub, x="step", y=col, hue="run", errorbar=("ci", 95), ax=ax, legend=ax is axes[-1]
        )
        ax.set_ylabel(label)
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1, 1), title="")
    fig.tight_layout()
    return fig


def cost_figure(runs: pd.DataFrame):
    """Accuracy change from the start against the whole cost (FLOPs, data included)."""
    plotting.setup()
    d = with_deltas(runs)
    d = d[d["method"] != "sft"].copy()
    d["config"] = d.apply(lambda r: f"{_label(r)} ({r['arm']}, {r['start']})", axis=1)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    sns.scatterplot(data=d, x="total_flops", y="d_acc_mean", hue="config", style="method", ax=ax)
    ax.set_xscale("log")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("total FLOPs (training, sampling, reference)")
    ax.set_ylabel("accuracy change from the start")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), title="", fontsize="small")
    return fig


def figures_job(runs_path: str, curves_path: str, skill: str, outputs: dict[str, str]) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    curves = read_frame(curves_path, CONTRACT.curve_schema())
    if placeholders_if_nothing_learned(runs, outputs.values()):
        return
    save_figure(losses_figure(runs), outputs["losses"])
    save_figure(rlvr_figure(runs, curves, skill), outputs["rlvr"])
    save_figure(cost_figure(runs), outputs["cost"])
