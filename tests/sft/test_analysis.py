import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.sft.analysis import claims, decompose, variance_table

TEMPLATES = ["tulu", "tulu2", "tulu_eos", "zephyr", "chatml", "llama3"]
SKILLS = ["addition", "sort"]
SETTINGS = dict(
    reference_template="tulu",
    comparable_band=(0.5, 2.0),
    drop_threshold=0.05,
    soup_margin=0.01,
    n_boot=200,
    level=0.95,
)


def test_decompose_separates_planted_effects():
    rng = np.random.default_rng(0)
    t_eff = rng.normal(0, 0.1, size=(6, 1))
    s_eff = rng.normal(0, 0.1, size=(1, 8))
    only_t = decompose(0.5 + t_eff + np.zeros((6, 8)) + rng.normal(0, 1e-4, (6, 8)))
    only_s = decompose(0.5 + s_eff + np.zeros((6, 8)) + rng.normal(0, 1e-4, (6, 8)))
    assert only_t["share_template"] > 0.99 and only_s["share_seed"] > 0.99
    noise = decompose(0.5 + rng.normal(0, 0.05, (6, 8)))
    assert noise["share_interaction"] > 0.5
    shares = [only_t[f"share_{k}"] for k in ("template", "seed", "interaction")]
    assert sum(shares) == pytest.approx(1.0)
    # the SD ratio: template means vary, seeds within a template barely do
    assert only_t["spread_ratio"] > 10


def runs(
    template_sd: float,
    seed_sd: float,
    drop: float,
    others: float,
    soup_gain: float,
    n_seeds: int = 8,
):
    """A main grid, ablations and mean-loss runs with planted effects (accuracy units);
    ablation and mean-loss arms use the first ``n_seeds`` seeds of the main grid."""
    rng = np.random.default_rng(1)
    t_eff = dict(zip(TEMPLATES, rng.normal(0, template_sd, len(TEMPLATES)), strict=True))
    rows = []

    def row(variant, template, held, seed, reduction="sum"):
        acc = {}
        for s in SKILLS:
            base = 0.6 + t_eff[template] + rng.normal(0, seed_sd)
            if held == s:
                base -= drop
            elif held != "none":
                base += others
            acc[f"acc_{s}"] = base
        acc["acc_mean"] = float(np.mean(list(acc.values())))
        return {
            "variant": variant,
            "template": template,
            "held_out": held,
            "seed": seed,
            "loss_reduction": reduction,
            "status": "ok",
            **acc,
        }

    for t in TEMPLATES:
        rows += [row("main", t, "none", s) for s in range(n_seeds)]
    for held in SKILLS:
        rows += [row("ablate", "tulu", held, s) for s in range(n_seeds)]
    rows += [row("mean_loss", "tulu", "none", s, "mean") for s in range(n_seeds)]
    df = pd.DataFrame(rows)
    soups = []
    main = df[df["variant"] == "main"]
    for t in TEMPLATES:
        for a, b in ((0, 1), (2, 3), (4, 5), (6, 7)):
            pa_, pb = (main[(main["template"] == t) & (main["seed"] == x)].iloc[0] for x in (a, b))
            for s in [*SKILLS, "mean"]:
                better = max(pa_[f"acc_{s}"], pb[f"acc_{s}"])
                soups.append(
                    {
                        "template": t,
                        "seed_a": a,
                        "seed_b": b,
                        "skill": s,
                        "soup": better + soup_gain + rng.normal(0, 0.003),
                        "parent_a": pa_[f"acc_{s}"],
                        "parent_b": pb[f"acc_{s}"],
                        "better_parent": better,
                    }
                )
    return df, pd.DataFrame(soups)


def verdicts(df, soups):
    variance = variance_table(df, n_boot=100, level=0.95)
    return {c.claim_id: c.verdict for c in claims(df, variance, soups, **SETTINGS)}


def test_claims_follow_planted_effects():
    # the "others" ratio has a noise floor near 0.8 sqrt(2 / seeds): many seeds to support it
    got = verdicts(
        *runs(template_sd=0.03, seed_sd=0.03, drop=0.3, others=0.0, soup_gain=-0.02, n_seeds=24)
    )
    assert got["leaving_out_addition_drops_it"] == SUPPORTED
    assert got["leaving_out_sort_drops_it"] == SUPPORTED
    assert got["soup_not_better_than_best_parent"] == SUPPORTED
    assert got["others_move_less_than_seed_spread"] == SUPPORTED
    assert got["sum_loss_beats_mean_loss"] == INCONCLUSIVE  # no planted difference


def test_claims_fail_when_effects_are_reversed():
    got = verdicts(*runs(template_sd=0.2, seed_sd=0.01, drop=-0.3, others=0.3, soup_gain=0.1))
    assert got["seed_spread_comparable_to_template_spread"] == NOT_SUPPORTED
    assert got["leaving_out_addition_drops_it"] == NOT_SUPPORTED
    assert got["soup_not_better_than_best_parent"] == NOT_SUPPORTED
    assert got["others_move_less_than_seed_spread"] == NOT_SUPPORTED
