"""Variance decomposition, soups and claims of the SFT experiment."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.claims import Claim, claims_markdown, claims_table, make_claim
from papergrid.contract import collect
from papergrid.io import write_parquet, write_text
from papergrid.sft.grid import SOUP_SCHEMA
from papergrid.stats import difference_interval, mean_interval
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


def skills_of(runs: pd.DataFrame) -> list[str]:
    """Evaluated skills (columns with any value), then ``mean`` (over skills)."""
    return [
        c.removeprefix("acc_")
        for c in runs.columns
        if c.startswith("acc_") and runs[c].notna().any()
    ]


def main_matrix(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """template x seed accuracies of the main grid, seeds complete in every template."""
    main = ok_runs(runs)
    main = main[main["variant"] == "main"]
    table = main.pivot_table(index="template", columns="seed", values=column, aggfunc="first")
    return table.dropna(axis=1)


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
    """Each soup's accuracies beside its parents' (from the runs table)."""
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
                    "better_parent": float(max(a[col], b[col])),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "template",
            "seed_a",
            "seed_b",
            "skill",
            "soup",
            "parent_a",
            "parent_b",
            "better_parent",
        ],
    )


def noise_floor(full: pd.DataFrame, ablated: pd.DataFrame) -> float:
    """E|mean(a) - mean(b)| / sd for two samples of one normal: sqrt(2/pi (1/n_a + 1/n_b))."""
    n_a = len(full)
    n_b = len(ablated) / max(1, ablated["held_out"].nunique())
    if n_a == 0 or n_b == 0:
        return math.nan
    return math.sqrt(2 / math.pi * (1 / n_a + 1 / n_b))


def _arm(runs: pd.DataFrame, **where) -> pd.DataFrame:
    sel = ok_runs(runs)
    for k, v in where.items():
        sel = sel[sel[k] == v]
    return sel


def _boot_ratio(num_arms, den_arms, stat, n_boot, level, rng) -> tuple[float, float]:
    """Percentile interval of ``stat`` with every arm's seeds resampled independently."""
    draws = []
    for _ in range(n_boot):

        def res(arms):
            return [a[rng.integers(0, len(a), len(a))] if len(a) else a for a in arms]

        v = stat(res(num_arms), res(den_arms))
        if math.isfinite(v):
            draws.append(v)
    if not draws:
        return math.nan, math.nan
    tail = 100 * (1 - level) / 2
    return float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def claims(
    runs: pd.DataFrame,
    variance: pd.DataFrame,
    soups: pd.DataFrame,
    *,
    reference_template: str,
    comparable_band: Sequence[float],
    drop_threshold: float,
    soup_margin: float,
    n_boot: int,
    level: float,
) -> list[Claim]:
    out: list[Claim] = []
    rng = np.random.default_rng(0)
    row = variance[(variance["skill"] == "mean") & (variance["quantity"] == "spread_ratio")]
    est, lo, hi = (
        (row["estimate"].iloc[0], row["ci_low"].iloc[0], row["ci_high"].iloc[0])
        if len(row)
        else (math.nan, math.nan, math.nan)
    )
    out.append(
        make_claim(
            EXPERIMENT,
            "seed_spread_comparable_to_template_spread",
            "the spread over chat templates is comparable to the spread over seeds",
            "SD of template means / pooled within-template SD over seeds, mean accuracy "
            "(bootstrap over templates and seeds)",
            est,
            (lo, hi),
            comparable_band[0],
            "within",
            int(row["n_templates"].iloc[0] * row["n_seeds"].iloc[0]) if len(row) else 0,
            threshold_high=comparable_band[1],
        )
    )

    full = _arm(runs, variant="main", template=reference_template)
    ablated = _arm(runs, variant="ablate")
    seeds = sorted(set(ablated["seed"]))
    full = full[full["seed"].isin(seeds)]
    skills = [s for s in skills_of(runs) if s != "mean"]
    for held in sorted(set(ablated["held_out"])):
        arm = ablated[ablated["held_out"] == held]
        col = f"acc_{held}"
        diff, lo, hi = difference_interval(full[col], arm[col], level)
        out.append(
            make_claim(
                EXPERIMENT,
                f"leaving_out_{held}_drops_it",
                f"leaving {held} out of SFT drops {held} accuracy by more than {drop_threshold:g}",
                f"{held} accuracy, all skills minus {held} left out ({reference_template}, "
                "Welch t)",
                diff,
                (lo, hi),
                drop_threshold,
                "above",
                len(full) + len(arm),
            )
        )
    # the others: mean |change| over (left out, other skill), relative to the seed spread
    pairs = [(h, o) for h in sorted(set(ablated["held_out"])) for o in skills if o != h]
    seed_sd = {
        s: variance.loc[(variance["skill"] == s) & (variance["quantity"] == "sd_seed"), "estimate"]
        for s in skills
    }
    spread = float(np.mean([v.iloc[0] for v in seed_sd.values() if len(v)])) if skills else math.nan
    num = [full[f"acc_{o}"].to_numpy(float) for _, o in pairs]
    num += [ablated.loc[ablated["held_out"] == h, f"acc_{o}"].to_numpy(float) for h, o in pairs]
    main = _arm(runs, variant="main")
    den = [
        main.loc[main["template"] == t, f"acc_{s}"].to_numpy(float)
        for s in skills
        for t in sorted(set(main["template"]))
    ]

    def others_ratio(n, d) -> float:
        k = len(pairs)
        if not k:
            return math.nan
        moves = [abs(np.mean(n[i]) - np.mean(n[k + i])) for i in range(k)]
        sds = [np.std(x, ddof=1) for x in d if len(x) > 1]
        return float(np.mean(moves) / np.mean(sds)) if sds and np.mean(sds) > 0 else math.nan

    est = others_ratio(num, den)
    lo, hi = _boot_ratio(num, den, others_ratio, n_boot, level, rng) if pairs else (math.nan,) * 2
    out.append(
        make_claim(
            EXPERIMENT,
            "others_move_less_than_seed_spread",
            "leaving one skill out moves the other skills by less than the seed spread",
            "mean |change| of the other skills' accuracy / mean within-template seed SD "
            "(bootstrap over seeds)",
            est,
            (lo, hi),
            1.0,
            "below",
            len(full) + len(ablated),
            f"seed SD (mean over skills) {spread:.3g}; with no effect at all the noise of two "
            f"means of {len(full)} and {len(ablated) // max(1, len(set(ablated['held_out'])))} "
            f"seeds alone gives a ratio near {noise_floor(full, ablated):.2f}",
        )
    )

    mean_soups = soups[soups["skill"] == "mean"]
    gains = (mean_soups["soup"] - mean_soups["better_parent"]).to_numpy(float)
    m, lo, hi = mean_interval(gains, level)
    out.append(
        make_claim(
            EXPERIMENT,
            "soup_not_better_than_best_parent",
            f"a two-seed soup is not better than its better parent by more than {soup_margin:g}",
            "mean accuracy, soup minus better parent, over soups (t interval)",
            m,
            (lo, hi),
            soup_margin,
            "below",
            len(gains),
        )
    )

    summed = full
    mean_loss = _arm(runs, variant="mean_loss")
    diff, lo, hi = difference_interval(summed["acc_mean"], mean_loss["acc_mean"], level)
    out.append(
        make_claim(
            EXPERIMENT,
            "sum_loss_beats_mean_loss",
            "the summed-token loss gives higher accuracy than the per-batch mean loss",
            f"mean accuracy, sum minus mean reduction ({reference_template}, same seeds, Welch t)",
            diff,
            (lo, hi),
            0.0,
            "above",
            len(summed) + len(mean_loss),
            "" if len(mean_loss) else "no mean-loss runs in this config",
        )
    )
    return out


def variance_job(
    runs_path: str,
    soup_paths: Sequence[str],
    n_boot: int,
    level: float,
    variance_out: str,
    soups_out: str,
    md_out: str,
) -> None:
    runs = pd.read_parquet(runs_path)
    table = variance_table(runs, n_boot=n_boot, level=level)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), variance_out)
    write_parquet(
        pa.Table.from_pandas(soup_table(runs, soup_paths), preserve_index=False), soups_out
    )
    write_text(variance_markdown(table), md_out)


def claims_job(
    runs_path: str,
    variance_path: str,
    soups_path: str,
    settings: Mapping,
    parquet_out: str,
    md_out: str,
) -> None:
    found = claims(
        pd.read_parquet(runs_path),
        pd.read_parquet(variance_path),
        pd.read_parquet(soups_path),
        **settings,
    )
    write_parquet(claims_table(found), parquet_out)
    write_text(claims_markdown(found), md_out)
