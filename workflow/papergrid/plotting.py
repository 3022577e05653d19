"""Shared figure style, so every experiment's figures look alike."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # jobs run headless, on clusters too

import seaborn as sns  # noqa: E402


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
