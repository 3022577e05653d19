"""Fits and claims of the depth experiment, from the aggregated runs table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.claims import Claim, claims_markdown, claims_table, make_claim
from papergrid.fit import SATURATING_POWER_LAW, fit_form
from papergrid.io import write_parquet, write_text
from papergrid.stats import difference_interval, mean_interval
from papergrid.tables import FIT_COLUMNS, markdown_table

EXPERIMENT = "depth"
COMPOSITIONAL = ("around_right", "add_jump")  # the out-of-distribution tests depth should help
FIT_METRICS = {
    "lm_loss": "Markov LM loss",  # Petty's perplexity curves
    "val_loss": "SCAN in-distribution loss",  # the task the generalisation claims are about
}


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def with_ood(runs: pd.DataFrame) -> pd.DataFrame:
    """Adds ``acc_ood``: mean exact match over the compositional tests."""
    out = runs.copy()
    out["acc_ood"] = out[[f"acc_{t}" for t in COMPOSITIONAL]].mean(axis=1)
    return out


def depth_at_share(k: float, best_depth: float, share: float) -> float:
    """Depth where L_inf + c d^-k has gained ``share`` of its gain from depth 1 to
    ``best_depth``: c (1 - d^-k) = share c (1 - D^-k)."""
    if not (k > 0 and best_depth > 1):
        return math.nan
    return float((1 - share * (1 - best_depth ** (-k))) ** (-1 / k))


def fit_budget(
    runs: pd.DataFrame, metric: str, *, share: float, n_boot: int, level: float, n_jobs: int
) -> list[dict]:
    """L(depth) = L_inf + c depth^-k on one budget's ok runs (seeds resampled within
    depth), plus a derived row: the depth reaching ``share`` of the gain to the deepest."""
    depth = runs["depth"].to_numpy(float)
    y = runs[metric].to_numpy(float)
    keep = np.isfinite(y)
    depth, y = depth[keep], y[keep]
    if len(np.unique(depth)) < 4:  # three parameters need four depths to leave a residual
        return []
    fit = fit_form(
        SATURATING_POWER_LAW,
        {"x": depth},
        y,
        n_boot=n_boot,
        level=level,
        groups=depth,
        n_jobs=n_jobs,
        keep_draws=True,
    )
    budget = int(runs["budget"].iloc[0])
    rows = fit.rows(budget=budget, metric=metric)
    best = float(depth.max())
    derived = [depth_at_share(d["k"], best, share) for d in fit.draws]
    derived = np.asarray([d for d in derived if math.isfinite(d)])
    tail = 100 * (1 - level) / 2
    rows.append(
        {
            **rows[-1],
            "param": f"depth_{round(100 * share)}pct_gain",
            "value": depth_at_share(fit.params["k"], best, share),
            "se": float(derived.std(ddof=1)) if derived.size > 1 else math.nan,
            "ci_low": float(np.percentile(derived, tail)) if derived.size else math.nan,
            "ci_high": float(np.percentile(derived, 100 - tail)) if derived.size else math.nan,
            "on_bound": False,
        }
    )
    return rows


def fit_table(
    runs: pd.DataFrame, *, share: float, n_boot: int, level: float, n_jobs: int = 1
) -> pd.DataFrame:
    ok = ok_runs(runs)
    rows = []
    for metric in FIT_METRICS:
        for _, group in ok.groupby("budget"):
            rows += fit_budget(
                group, metric, share=share, n_boot=n_boot, level=level, n_jobs=n_jobs
            )
    return pd.DataFrame(rows)


def fit_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "No fit: fewer than four depths with ok runs in every budget.\n"
    return (
        "Loss versus depth per budget, L(depth) = L_inf + c * depth^-k; 95% bootstrap "
        "intervals (seeds resampled within depth). depth_90pct_gain: the depth reaching 90% "
        "of the fitted gain from depth 1 to the deepest model trained. heldout_are is not "
        "computed here (no extrapolation target).\n\n"
        + markdown_table(table, ["metric", "budget", *FIT_COLUMNS])
    )


def _cell(runs: pd.DataFrame, depth: int, column: str) -> np.ndarray:
    return runs.loc[runs["depth"] == depth, column].to_numpy(float)


def matched_loss_slope(
    runs: pd.DataFrame, *, n_boot: int, level: float, seed: int = 0
) -> tuple[float, float, float]:
    """Coefficient of log2(depth) in acc_ood ~ 1 + ID loss + log2(depth), with a
    bootstrap over runs within depth: the depth effect at equal in-distribution loss."""
    x = np.column_stack(
        [np.ones(len(runs)), runs["val_loss"].to_numpy(float), np.log2(runs["depth"])]
    )
    y = runs["acc_ood"].to_numpy(float)
    if len(np.unique(runs["depth"])) < 3:
        return math.nan, math.nan, math.nan
    est = float(np.linalg.lstsq(x, y, rcond=None)[0][2])
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(runs["depth"].to_numpy() == d) for d in np.unique(runs["depth"])]
    draws = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, len(g)) for g in groups])
        if np.linalg.matrix_rank(x[idx]) == 3:
            draws.append(np.linalg.lstsq(x[idx], y[idx], rcond=None)[0][2])
    if not draws:
        return est, math.nan, math.nan
    tail = 100 * (1 - level) / 2
    return est, float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def saturation_claim(
    fits: pd.DataFrame, budget: int, metric: str, label: str, share: float, depth: float
) -> Claim:
    """The fitted depth reaching ``share`` of the gain lies below ``depth``; no interval is
    claimed from a fit that did not converge off its bounds (a flat or rising curve)."""
    row = fits[
        (fits["budget"] == budget)
        & (fits["metric"] == metric)
        & (fits["param"] == f"depth_{round(100 * share)}pct_gain")
    ]
    est, lo, hi, why = math.nan, math.nan, math.nan, "no fit for this budget"
    if len(row):
        est, status = float(row["value"].iloc[0]), str(row["status"].iloc[0])
        why = "" if status == "ok" else f"fit status {status}: no interval is claimed"
        if status == "ok":
            lo, hi = float(row["ci_low"].iloc[0]), float(row["ci_high"].iloc[0])
    return make_claim(
        EXPERIMENT,
        f"gains_saturate_{metric}_b{budget}",
        f"budget {budget}: {label} gains from depth saturate by about {depth:g} layers",
        f"depth reaching {share:.0%} of the fitted {label} gain from depth 1 to the deepest "
        "(bootstrap)",
        est,
        (lo, hi),
        depth,
        "below",
        int(row["n_points"].iloc[0]) if len(row) else 0,
        why,
    )


def claims(
    runs: pd.DataFrame,
    fits: pd.DataFrame,
    *,
    compare_depth: int,
    saturation_depth: float,
    share: float,
    length_threshold: float,
    n_boot: int,
    level: float,
) -> list[Claim]:
    ok = with_ood(ok_runs(runs))
    out: list[Claim] = []
    for budget, group in ok.groupby("budget"):
        budget = int(budget)
        deep, shallow = _cell(group, compare_depth, "acc_ood"), _cell(group, 1, "acc_ood")
        diff, lo, hi = difference_interval(deep, shallow, level)
        out.append(
            make_claim(
                EXPERIMENT,
                f"deeper_generalises_better_b{budget}",
                f"budget {budget}: {compare_depth} layers generalise compositionally better than 1",
                f"OOD exact match (mean of {', '.join(COMPOSITIONAL)}), depth {compare_depth} "
                "minus depth 1 (Welch t)",
                diff,
                (lo, hi),
                0.0,
                "above",
                len(deep) + len(shallow),
            )
        )
        for metric, label in FIT_METRICS.items():
            out.append(saturation_claim(fits, budget, metric, label, share, saturation_depth))
        deepest = int(group["depth"].max())
        narrow = bool(group.loc[group["depth"] == deepest, "narrow"].all())
        diff, lo, hi = difference_interval(
            _cell(group, deepest, "lm_loss"), _cell(group, compare_depth, "lm_loss"), level
        )
        if not narrow:
            diff, lo, hi = math.nan, math.nan, math.nan
        out.append(
            make_claim(
                EXPERIMENT,
                f"narrowest_worse_b{budget}",
                f"budget {budget}: the deepest, narrowest model ({deepest} layers, d_ff < "
                f"d_model) models language worse than {compare_depth} layers",
                f"LM loss, depth {deepest} minus depth {compare_depth} (Welch t)",
                diff,
                (lo, hi),
                0.0,
                "above",
                int((group["depth"] == deepest).sum() + (group["depth"] == compare_depth).sum()),
                "" if narrow else "the deepest model here has d_ff >= d_model: not tested",
            )
        )
        est, lo, hi = matched_loss_slope(group, n_boot=n_boot, level=level)
        out.append(
            make_claim(
                EXPERIMENT,
                f"depth_helps_at_matched_loss_b{budget}",
                f"budget {budget}: the depth benefit survives at matched in-distribution loss",
                "coefficient of log2(depth) in OOD accuracy ~ ID loss + log2(depth) "
                "(bootstrap over runs)",
                est,
                (lo, hi),
                0.0,
                "above",
                len(group),
            )
        )
    # every cell must lie below: the highest upper end decides "supported", the highest
    # lower end "not supported"
    cells = {
        key: mean_interval(v.to_numpy(), level)
        for key, v in ok.groupby(["budget", "depth"])["acc_length"]
    }
    top = max(cells, key=lambda k: cells[k][0], default=None)
    out.append(
        make_claim(
            EXPERIMENT,
            "length_near_zero",
            f"length generalisation stays near zero (below {length_threshold:g}) at every depth",
            "length-split exact match: highest cell mean; interval = highest lower and "
            "highest upper t bound over (budget, depth) cells",
            cells[top][0] if top else math.nan,
            (
                max((c[1] for c in cells.values()), default=math.nan),
                max((c[2] for c in cells.values()), default=math.nan),
            ),
            length_threshold,
            "below",
            int(len(ok)),
            "" if top is None else f"highest cell: budget {top[0]}, depth {top[1]}",
        )
    )
    return out


def fit_job(
    runs_path: str,
    share: float,
    n_boot: int,
    level: float,
    threads: int,
    parquet_out: str,
    md_out: str,
) -> None:
    runs = pd.read_parquet(runs_path)
    table = fit_table(runs, share=share, n_boot=n_boot, level=level, n_jobs=threads)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table), md_out)


def claims_job(runs_path: str, fits_path: str, settings: dict, parquet_out: str, md_out: str):
    runs = pd.read_parquet(runs_path)
    fits = pd.read_parquet(fits_path)
    found = claims(runs, fits, **settings)
    write_parquet(claims_table(found), parquet_out)
    write_text(claims_markdown(found), md_out)
