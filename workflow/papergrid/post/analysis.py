"""Tables of the post-training experiment, from the aggregated runs table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from papergrid.contract import read_frame
from papergrid.io import write_text
from papergrid.lm.data.tasks import SKILLS
from papergrid.post.grid import CONTRACT
from papergrid.stats import t_mean
from papergrid.tables import markdown_table

EXPERIMENT = "post"
CELL = ["method", "arm", "beta", "start", "target"]


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def skills_in(runs: pd.DataFrame) -> list[str]:
    return [s for s in SKILLS if f"acc_{s}" in runs and runs[f"acc_{s}"].notna().any()]


def with_deltas(runs: pd.DataFrame) -> pd.DataFrame:
    """Adds each run's change from its own start (the same seed's start row): accuracy per
    skill and on average, and response length."""
    ok = ok_runs(runs).copy()
    starts = ok[ok["method"] == "sft"].set_index(["start", "seed"])
    cols = [f"acc_{s}" for s in skills_in(ok)] + ["acc_mean", "response_length"]
    for col in cols:
        base = starts[col].reindex(pd.MultiIndex.from_frame(ok[["start", "seed"]])).to_numpy()
        ok[f"d_{col}"] = ok[col].to_numpy() - base
    return ok


def others_mean(runs: pd.DataFrame, target: str, prefix: str = "acc_") -> pd.Series:
    """Mean accuracy over the skills other than ``target``."""
    cols = [f"{prefix}{s}" for s in skills_in(runs) if s != target]
    return runs[cols].mean(axis=1)


def method_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: mean and 95% t interval over seeds of the accuracy change from the
    start, response length, cost."""
    d = with_deltas(runs)
    rows = []
    for key, cell in d.groupby(CELL, dropna=False, sort=True):
        ev = t_mean(cell["d_acc_mean"])
        lo, hi = ev.interval(0.95)
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                "seeds": len(cell),
                "acc_mean": float(cell["acc_mean"].mean()),
                "d_acc_mean": ev.estimate,
                "ci": f"[{lo:.3g}, {hi:.3g}]" if math.isfinite(lo) else "n/a",
                "response_length": float(cell["response_length"].mean()),
                "kl": float(cell["kl"].mean()),
                "total_gflops": float(cell["total_flops"].mean()) / 1e9,
                "wall_s": float(cell["wall_seconds"].mean()),
            }
        )
    return pd.DataFrame(rows)


def table_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "No runs.\n"
    return (
        "Every cell's runs (one per start seed): accuracy averaged over the skills (greedy, "
        "test prompts of the SFT experiment), its change from the run's own start with a 95% "
        "t interval over seeds, mean greedy response length (characters), the final KL to the "
        "start (RL), and the cost: training FLOPs plus the generation and reference passes "
        "behind the data, and wall seconds.\n\n"
        + markdown_table(
            table,
            [
                "method",
                "arm",
                "beta",
                "start",
                "target",
                "seeds",
                "acc_mean",
                "d_acc_mean",
                "ci",
                "response_length",
                "kl",
                "total_gflops",
                "wall_s",
            ],
        )
    )


def table_job(runs_path: str, md_out: str) -> None:
    write_text(
        table_markdown(method_table(read_frame(runs_path, CONTRACT.summary_schema()))), md_out
    )


def final_curves(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The curves with the grid columns of their runs."""
    keys = runs[["run_id", *CELL]].drop_duplicates("run_id")
    return curves.drop(columns=[c for c in CELL if c in curves], errors="ignore").merge(
        keys, on="run_id"
    )


def nan_to(x: float, default: float) -> float:
    return default if not np.isfinite(x) else x
