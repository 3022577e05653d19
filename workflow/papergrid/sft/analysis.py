"""Variance decomposition and soups of the SFT experiment (claims: papergrid.sft.claims).

The variance table (template, seed and interaction shares, bootstrap over templates and
seeds) describes the grid; the soups table sets each soup beside its parents: the parent
chosen on the validation prompts, the other one, and the mean of the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import collect, read_frame
from papergrid.io import write_parquet, write_text
from papergrid.sft.grid import CONTRACT, SOUP_SCHEMA
from papergrid.tables import markdown_table

EXPERIMENT = "sft"
QUANTITIES = (
    "share_template",  # variance components of a two-way random-effects model, as shares
    "share_seed",
    "share_interaction",  # template x seed interaction, confounded with evaluation noise
    "sd_template",  # standard deviation of the template means
    "sd_seed",  # within-template standard deviation over seeds, pooled
    "spread_ratio",  # sd_template / sd_seed
)


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


# mean accuracy on the even and odd halves of the test prompts: two readings of one run,
# not skills
HALVES = ("acc_mean_a", "acc_mean_b")


def skills_of(runs: pd.DataFrame) -> list[str]:
    """Evaluated skills (columns with any value), then ``mean`` (over skills)."""
    return [
        c.removeprefix("acc_")
        for c in runs.columns
        if c.startswith("acc_") and c not in HALVES and runs[c].notna().any()
    ]


def decompose(m: np.ndarray) -> dict[str, float]:
    """Two-way ANOVA without replication on a (templates, seeds) matrix, read as random
    effects: sigma2_t = (MS_t - MS_e) / n_seeds, sigma2_s = (MS_s - MS_e) / n_templates
    (negative estimates set to 0), sigma2_e = MS_e."""
    t, s = m.shape
    if t < 2 or s < 2:
        return {q: math.nan for q in QUANTITIES}
    grand = m.mean()
    rows, cols = m.mean(axis=1), m.mean(axis=0)
    resid = m - rows[:, None] - cols[None, :] + grand
    ms_t = s * ((rows - grand) ** 2).sum() / (t - 1)
    ms_s = t * ((cols - grand) ** 2).sum() / (s - 1)
    ms_e = (resid**2).sum() / ((t - 1) * (s - 1))
    comp = {
        "template": max(0.0, (ms_t - ms_e) / s),
        "seed": max(0.0, (ms_s - ms_e) / t),
        "interaction": ms_e,
    }
    total = sum(comp.values())
    sd_t = float(rows.std(ddof=1))
    sd_s = float(np.sqrt(m.var(axis=1, ddof=1).mean()))
    return {
        **{f"share_{k}": (v / total if total > 0 else math.nan) for k, v in comp.items()},
        "sd_template": sd_t,
        "sd_seed": sd_s,
        "spread_ratio": sd_t / sd_s if sd_s > 0 else math.nan,
    }


def variance_table(runs: pd.DataFrame, *, n_boot: int, level: float, seed: int = 0):
    """Per skill (and the mean over skills): each quantity with a bootstrap interval that
    resamples templates and seeds independently (both are random factors)."""
    rng = np.random.default_rng(seed)
    tail = 100 * (1 - level) / 2
    rows = []
    for skill in skills_of(runs):
        m = main_matrix(runs, f"acc_{skill}").to_numpy(float)
        est = decompose(m)
        draws = {q: [] for q in QUANTITIES}
        if m.size and min(m.shape) >= 2:
            for _ in range(n_boot):
                ti = rng.integers(0, m.shape[0], m.shape[0])
                si = rng.integers(0, m.shape[1], m.shape[1])
                for q, v in decompose(m[np.ix_(ti, si)]).items():
                    if math.isfinite(v):
                        draws[q].append(v)
        for q in QUANTITIES:
            d = draws[q]
            rows.append(
                {
                    "skill": skill,
                    "quantity": q,
                    "estimate": est[q],
                    "ci_low": float(np.percentile(d, tail)) if d else math.nan,
                    "ci_high": float(np.percentile(d, 100 - tail)) if d else math.nan,
                    "n_templates": m.shape[0] if m.size else 0,
                    "n_seeds": m.shape[1] if m.size else 0,
                    "n_boot": len(d),
                }
            )
    return pd.DataFrame(rows)


def variance_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "No decomposition: no ok runs in the main grid.\n"
    wide = table.assign(
        cell=[
            f"{e:.3g} [{lo:.3g}, {hi:.3g}]"
            for e, lo, hi in zip(table["estimate"], table["ci_low"], table["ci_high"], strict=True)
        ]
    ).pivot(index="skill", columns="quantity", values="cell")
    wide = wide.reindex(columns=list(QUANTITIES)).reset_index()
    first = table.iloc[0]
    return (
        f"Accuracy of the main grid ({first['n_templates']} templates x {first['n_seeds']} "
        "seeds) split into template, seed and interaction variance (two-way random effects, "
        "shares of the total) and the two spreads as standard deviations. 95% bootstrap "
        "intervals resample templates and seeds.\n\n" + markdown_table(wide, ["skill", *QUANTITIES])
    )


def soup_table(runs: pd.DataFrame, soup_paths: Sequence[str]) -> pd.DataFrame:
    """Each soup's accuracies beside its parents', per skill: the parent with the higher
    mean validation accuracy is ``chosen`` (the test set never decides it), the other one
    ``unchosen``; ``parent_mean`` is the mean of the two (what a soup of parents in one
    basin should at least reach); ``best_test`` is the better parent on the test set
    (descriptive only: selected on the same data)."""
    soups = collect(soup_paths, SOUP_SCHEMA).to_pandas()
    main = ok_runs(runs)
    main = main[main["variant"] == "main"].set_index(["template", "seed"])
    skills = skills_of(runs)
    rows = []
    for _, s in soups.iterrows():
        try:
            a, b = main.loc[(s["template"], s["seed_a"])], main.loc[(s["template"], s["seed_b"])]
        except KeyError:
            continue
        a_wins = a["val_acc_mean"] >= b["val_acc_mean"]
        chosen, chosen_seed = (a, s["seed_a"]) if a_wins else (b, s["seed_b"])
        unchosen = b if a_wins else a
        for skill in skills:
            col = f"acc_{skill}"
            rows.append(
                {
                    "template": s["template"],
                    "seed_a": int(s["seed_a"]),
                    "seed_b": int(s["seed_b"]),
                    "skill": skill,
                    "soup": float(s[col]),
                    "parent_a": float(a[col]),
                    "parent_b": float(b[col]),
                    "chosen_seed": int(chosen_seed),
                    "chosen_parent": float(chosen[col]),
                    "unchosen_parent": float(unchosen[col]),
                    "parent_mean": float((a[col] + b[col]) / 2),
                    "best_test": float(max(a[col], b[col])),
                }
            )
    return pd.DataFrame(rows, columns=list(SOUP_COLUMNS))


# results/sft/soups.parquet, one row per (soup, skill)
SOUPS_TABLE = pa.schema(
    [
        ("template", pa.string()),
        ("seed_a", pa.int64()),
        ("seed_b", pa.int64()),
        ("skill", pa.string()),
        ("soup", pa.float64()),
        ("parent_a", pa.float64()),
        ("parent_b", pa.float64()),
        ("chosen_seed", pa.int64()),
        ("chosen_parent", pa.float64()),
        ("unchosen_parent", pa.float64()),
        ("parent_mean", pa.float64()),
        ("best_test", pa.float64()),
    ]
)
SOUP_COLUMNS = tuple(SOUPS_TABLE.names)


def main_matrix(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """template x seed accuracies of the main grid, seeds complete in every template
    (numpy, not pivot_table: calibration builds it for every simulated table)."""
    return main_matrices(runs, (column,))[column]


def main_matrices(runs: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.DataFrame]:
    """:func:`main_matrix` of each of ``columns`` on the same seeds: those complete in
    every template and every column (two halves of one run are read seed by seed)."""
    sel = (runs["status"].to_numpy() == "ok") & (runs["variant"].to_numpy() == "main")
    templates, t_idx = np.unique(runs["template"].to_numpy()[sel], return_inverse=True)
    seeds, s_idx = np.unique(runs["seed"].to_numpy()[sel], return_inverse=True)
    out = {}
    for column in columns:
        m = np.full((len(templates), len(seeds)), np.nan)
        m[t_idx, s_idx] = runs[column].to_numpy(dtype=float)[sel]
        out[column] = m
    complete = ~np.any([np.isnan(m).any(axis=0) for m in out.values()], axis=0)
    return {
        c: pd.DataFrame(m[:, complete], index=templates, columns=seeds[complete])
        for c, m in out.items()
    }


def variance_job(
    runs_path: str,
    soup_paths: Sequence[str],
    n_boot: int,
    level: float,
    variance_out: str,
    soups_out: str,
    md_out: str,
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    table = variance_table(runs, n_boot=n_boot, level=level)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), variance_out)
    write_parquet(
        pa.Table.from_pandas(
            soup_table(runs, soup_paths), schema=SOUPS_TABLE, preserve_index=False
        ),
        soups_out,
    )
    write_text(variance_markdown(table), md_out)
