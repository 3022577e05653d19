"""Markdown renderings of result tables, shared by every experiment's reports."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """A GitHub-style Markdown table of ``columns``, floats to 4 significant digits."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for _, r in table.iterrows()]
    return "\n".join(lines) + "\n"


FIT_COLUMNS = (
    "param",
    "value",
    "ci_low",
    "ci_high",
    "se",
    "n_points",
    "n_boot",
    "status",
    "heldout_are",
)
"""The columns of a fit table every experiment shows, after its own label columns."""
