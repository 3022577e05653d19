"""Shared figure style, so every experiment's figures look alike."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # jobs run headless, on clusters too

import seaborn as sns  # noqa: E402

from papergrid.io import save_figure  # noqa: E402


def setup() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")


def label_at(ax, values, axis: str = "x") -> None:
    """Label a log axis at the data's own values only (minor labels overlap otherwise)."""
    values = sorted(set(values))
    labels = [f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in values]
    if axis == "x":
        ax.set_xticks(values, labels)
    else:
        ax.set_yticks(values, labels)
    ax.minorticks_off()


def nothing_learned(runs) -> str:
    """Why no figure of ``runs`` can be drawn ("" when some run trained and learned):
    every run that trained was marked not_learned (papergrid.gates)."""
    status = runs["status"]
    if len(runs) and (status == "ok").sum() == 0:
        n = int((status == "not_learned").sum())
        return (
            f"No run learned: {n} of {len(runs)} runs did not leave chance "
            "(status not_learned), so there is nothing to draw; see the claims."
        )
    return ""


def placeholder(text: str):
    """A figure that says why it holds no data (a job never fails on a grid that did not
    learn: the claims say so, and the DAG completes)."""
    import textwrap

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(text, 70), ha="center", va="center", fontsize=9)
    return fig


def placeholders_if_nothing_learned(runs, paths) -> bool:
    """Write a placeholder to every figure in ``paths`` when no run of ``runs`` learned
    (:func:`nothing_learned`); True when it did, and there is nothing else to draw."""
    why = nothing_learned(runs)
    for path in paths if why else ():
        save_figure(placeholder(why), path)
    return bool(why)
