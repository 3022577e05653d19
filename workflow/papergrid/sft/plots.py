"""Figures of the SFT experiment; they read the runs and soups tables, never fit."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from papergrid import plotting
from papergrid.contract import read_frame
from papergrid.io import save_figure
from papergrid.plotting import placeholders_if_nothing_learned
from papergrid.sft.analysis import SOUPS_TABLE, ok_runs, skills_of
from papergrid.sft.grid import CONTRACT, NONE


def _long(runs: pd.DataFrame) -> pd.DataFrame:
    skills = skills_of(runs)
    out = runs.melt(
        id_vars=["template", "seed", "variant", "held_out"],
        value_vars=[f"acc_{s}" for s in skills],
        var_name="skill",
        value_name="accuracy",
    )
    out["skill"] = out["skill"].str.removeprefix("acc_")
    return out


def templates_figure(runs: pd.DataFrame):
    """Accuracy per chat template, every seed a point, one panel per skill."""
    plotting.setup()
    main = _long(ok_runs(runs)[lambda d: d["variant"] == "main"])
    skills = list(dict.fromkeys(main["skill"]))
    order = sorted(main["template"].unique())
    fig, axes = plt.subplots(
        1, len(skills), figsize=(2.6 * len(skills), 3.4), sharey=True, squeeze=False
    )
    for ax, skill in zip(axes[0], skills, strict=True):
        sub = main[main["skill"] == skill]
        sns.stripplot(
            data=sub,
            x="template",
            y="accuracy",
            hue="seed",
            order=order,
            palette="tab10",
            jitter=0.15,
            size=4,
            ax=ax,
            legend=ax is axes[0][-1],
        )
        sns.pointplot(
            data=sub,
            x="template",
            y="accuracy",
            order=order,
            color="black",
            errorbar=None,
            markers="_",
            linestyles="none",
            ax=ax,
        )
        ax.set_title(skill)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=60)
    axes[0][0].set_ylabel("accuracy (verifier, greedy)")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1, 1), title="seed")
    return fig


def ablation_figure(runs: pd.DataFrame, reference_template: str):
    """Mean accuracy per (skill left out, skill evaluated) on the reference template, with
    the full mix on the same seeds as the first row."""
    plotting.setup()
    ok = ok_runs(runs)
    seeds = set(ok.loc[ok["variant"] == "ablate", "seed"])
    full = ok[(ok["variant"] == "main") & (ok["template"] == reference_template)]
    arms = pd.concat([full[full["seed"].isin(seeds)], ok[ok["variant"] == "ablate"]])
    long = _long(arms)
    long = long[long["skill"] != "mean"]
    matrix = long.pivot_table(index="held_out", columns="skill", values="accuracy", aggfunc="mean")
    order = [NONE] + sorted(i for i in matrix.index if i != NONE)
    matrix = matrix.reindex(order)
    fig, ax = plt.subplots(figsize=(1.1 * matrix.shape[1] + 2, 0.55 * matrix.shape[0] + 1.2))
    sns.heatmap(matrix, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax)
    ax.set_ylabel("skill left out of SFT")
    ax.set_xlabel("skill evaluated")
    return fig


def soups_figure(soups: pd.DataFrame):
    """Mean accuracy of each soup beside its two parents, per template."""
    plotting.setup()
    sub = soups[soups["skill"] == "mean"].copy()
    sub["pair"] = (
        sub["template"] + " " + sub["seed_a"].astype(str) + "+" + sub["seed_b"].astype(str)
    )
    long = sub.melt(
        id_vars=["pair"],
        value_vars=["parent_a", "parent_b", "soup"],
        var_name="model",
        value_name="accuracy",
    )
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(sub) + 1.5), 3.4))
    sns.stripplot(data=long, x="pair", y="accuracy", hue="model", jitter=False, size=6, ax=ax)
    ax.tick_params(axis="x", rotation=70)
    ax.set_xlabel("")
    ax.set_ylabel("mean accuracy over skills")
    return fig


def figures_job(
    runs_path: str, soups_path: str, reference_template: str, outputs: dict[str, str]
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    soups = read_frame(soups_path, SOUPS_TABLE)
    if placeholders_if_nothing_learned(runs, outputs.values()):
        return
    save_figure(templates_figure(runs), outputs["templates"])
    save_figure(ablation_figure(runs, reference_template), outputs["ablation"])
    save_figure(soups_figure(soups), outputs["soups"])
