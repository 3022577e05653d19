"""Shared figure style, so every experiment's figures look alike."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # jobs run headless, on clusters too

import seaborn as sns  # noqa: E402


def setup() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
