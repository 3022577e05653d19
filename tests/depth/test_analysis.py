import math

import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.depth.analysis import depth_table, fit_markdown, fit_table, seed_slopes
from papergrid.depth.claims import claim_specs, saturation_depth_in

from ..verdicts import assert_calibrated, verdicts

SETTINGS = dict(
    trend_depths=[1, 2, 4],
    compare_depth=4,
    saturation_depth=6,
    gain_share=0.9,
    sesoi_trend=0.02,
    sesoi_lm=0.01,
    sesoi_slope=0.01,
)


def synthetic(
    lex_slope: float,
    struct_slope: float = 0.0,
    lm_k: float = 1.5,
    deepest_lm_penalty: float = 0.0,
    seeds: int = 4,
    seed: int = 0,
    lm_noise: float = 0.003,
) -> pd.DataFrame:
    """Runs whose pretraining and ID losses follow 1.5 + 0.8 d^-lm_k (plus
    ``deepest_lm_penalty`` at depth 8), whose lexical accuracy rises with log2(depth) by
    ``lex_slope`` at equal ID loss and whose structural accuracy by ``struct_slope``."""
    rng = np.random.default_rng(seed)

    def balanced(sd: float) -> np.ndarray:
        """Noise mirrored across seeds: every cell mean is exactly the planted one."""
        half = rng.normal(0, sd, seeds // 2)
        return np.concatenate([half, -half, np.zeros(seeds % 2)])

    rows = []
    for budget, d_model in ((25000, 24), (48000, 32)):
        for depth in (1, 2, 4, 8):
            id_noise, acc_noise, lm_noise_ = balanced(0.1), balanced(0.01), balanced(lm_noise)
            for s in range(seeds):
                id_loss = 0.1 * (1 + id_noise[s])
                lex = 0.3 + lex_slope * math.log2(depth) - 0.3 * id_loss + acc_noise[s]
                struct = 0.2 + struct_slope * math.log2(depth) + acc_noise[s]
                lm = 1.5 + 0.8 * depth**-lm_k + (deepest_lm_penalty if depth == 8 else 0.0)
                rows.append(
                    {
                        "budget": budget,
                        "depth": depth,
                        "seed": s,
                        "d_model": d_model,
                        "d_ff": 100 // depth,
                        "narrow": depth == 8,
                        "status": "ok",
                        "pretrain_loss": lm + lm_noise_[s],
                        "pretrain_start_loss": lm,
                        "pretrain_target": lm + 0.01,
                        "pretrain_step": 100,
                        "val_loss": id_loss + 0.5 * depth**-lm_k,
                        "acc_id": 0.95,
                        "acc_around_right": struct,
                        "acc_add_jump": lex,
                        "acc_length": 0.0,
                        "us_per_token": 1.0 + depth,
                    }
                )
    return pd.DataFrame(rows)


def found(runs):
    return verdicts(claim_specs(runs, **SETTINGS), runs)


def test_seed_slopes_are_within_seed_least_squares_on_log2_depth():
    runs = synthetic(0.1)
    seeds, slopes = seed_slopes(runs[runs["budget"] == 25000], "acc_around_right", [1, 2, 4])
    assert list(seeds) == [0, 1, 2, 3]
    one = runs[(runs["budget"] == 25000) & (runs["seed"] == 0) & (runs["depth"] <= 4)]
    expected = np.polyfit(np.log2(one["depth"]), one["acc_around_right"], 1)[0]
    assert slopes[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lex", "struct", "expected"),
    [
        (0.1, 0.0, (SUPPORTED, SUPPORTED, SUPPORTED)),
        (-0.1, 0.1, (NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED)),
    ],
)
def test_lexical_and_structural_trends_follow_the_planted_slopes(lex, struct, expected):
    v = found(synthetic(lex, struct))
    for budget in (25000, 48000):
        got = (
            v[f"depth_helps_lexical_b{budget}"],
            v[f"depth_does_not_help_structural_b{budget}"],
            v[f"lexical_gains_more_than_structural_b{budget}"],
        )
        assert got == expected
        assert v[f"depth_helps_at_matched_loss_b{budget}"] == expected[0]


def test_trends_on_the_margin_are_inconclusive():
    # a lexical slope of exactly the smallest effect, with seed noise: neither side
    runs = synthetic(0.02, struct_slope=0.02)
    rng = np.random.default_rng(3)
    runs["acc_add_jump"] += rng.normal(0, 0.02, len(runs))
    runs["acc_around_right"] += rng.normal(0, 0.02, len(runs))
    v = found(runs)
    assert v["depth_helps_lexical_b25000"] == INCONCLUSIVE
    assert v["depth_does_not_help_structural_b25000"] == INCONCLUSIVE
    assert v["lexical_gains_more_than_structural_b25000"] == INCONCLUSIVE


def test_saturation_is_tested_at_the_deepest_grid_depth_not_above_the_claim():
    assert saturation_depth_in([1, 2, 4, 8], 6) == 4
    assert saturation_depth_in([1, 2, 3, 4, 6, 8], 6) == 6
    assert saturation_depth_in([1, 8], 6) == 0


def test_saturation_can_be_supported_and_refused():
    # k = 3: depth 4 has 98.6% of the 1 -> 8 gain; k = 0.3: only 58%
    fast, slow = found(synthetic(0.1, lm_k=3.0)), found(synthetic(0.1, lm_k=0.3, seeds=6))
    for budget in (25000, 48000):
        for metric in ("pretrain_loss", "val_loss"):
            assert fast[f"gains_saturate_{metric}_b{budget}"] == SUPPORTED
            assert slow[f"gains_saturate_{metric}_b{budget}"] == NOT_SUPPORTED


def test_no_gain_from_depth_leaves_saturation_open():
    runs = synthetic(0.1)
    runs["pretrain_loss"] = 2.0 + np.random.default_rng(1).normal(0, 0.01, len(runs))
    specs = claim_specs(runs, **SETTINGS)
    v = verdicts(specs, runs)
    assert v["gains_saturate_pretrain_loss_b25000"] == INCONCLUSIVE


def test_narrowest_worse_reaches_each_verdict_and_needs_a_narrow_model():
    assert found(synthetic(0.1, deepest_lm_penalty=0.1))["narrowest_worse_b25000"] == SUPPORTED
    assert found(synthetic(0.1))["narrowest_worse_b25000"] == NOT_SUPPORTED
    # on the margin: depth 8 is 0.01 worse than depth 4
    runs = synthetic(0.1, deepest_lm_penalty=0.01 + 0.8 * (4**-1.5 - 8**-1.5), lm_noise=0.03)
    assert found(runs)["narrowest_worse_b25000"] == INCONCLUSIVE
    runs["narrow"] = False
    specs = claim_specs(runs, **SETTINGS)
    claim = next(s for s in specs if s.claim_id == "narrowest_worse_b25000").compute(runs)
    assert "not tested" in claim.detail


def test_fit_table_is_descriptive_and_says_its_status():
    table = fit_table(synthetic(0.1), n_boot=30, level=0.95)
    lm = table[(table["metric"] == "pretrain_loss")].set_index(["budget", "param"])
    k = lm.loc[(25000, "k")]
    # four depths for three parameters: too few distinct points to determine the law
    assert k["status"] == "underdetermined"
    assert "depth_90pct_gain" not in set(table["param"])


def test_a_split_at_the_floor_reads_no_trend():
    # every structural accuracy zero: slopes of exactly 0 with no spread would "support"
    # no help from depth for the wrong reason
    runs = synthetic(0.1)
    runs["acc_around_right"] = 0.0
    specs = claim_specs(runs, **SETTINGS)
    v = verdicts(specs, runs)
    assert v["depth_does_not_help_structural_b25000"] == INCONCLUSIVE
    spec = next(s for s in specs if s.claim_id == "depth_does_not_help_structural_b25000")
    assert "at the floor" in spec.compute(runs).detail
    assert v["depth_helps_lexical_b25000"] == SUPPORTED  # the lexical split is not
    runs["acc_add_jump"] = 0.01
    v = found(runs)
    assert v["depth_helps_lexical_b25000"] == INCONCLUSIVE
    assert v["lexical_gains_more_than_structural_b25000"] == INCONCLUSIVE


def test_depth_table_prices_each_step_in_latency():
    table = depth_table(synthetic(0.1))
    row = table[(table["budget"] == 25000) & (table["depth"] == 2)].iloc[0]
    # lexical accuracy +0.1 for one more microsecond per token
    assert row["lexical_gain_per_us"] == pytest.approx(0.1)
    assert row["n_seeds"] == 4
    assert math.isnan(table.iloc[0]["lexical_gain_per_us"])
    assert "lexical_gain_per_us" in fit_markdown(pd.DataFrame(), table)


def test_rules_are_calibrated_on_a_grid_that_can_decide():
    runs = synthetic(0.1, lm_k=1.5, deepest_lm_penalty=0.05, seeds=8)
    rng = np.random.default_rng(0)
    for col in ("acc_add_jump", "acc_around_right"):  # accuracy noise sets kappa
        runs[col] = np.clip(runs[col] + rng.normal(0, 0.015, len(runs)), 0, 1)
    specs = [s for s in claim_specs(runs, **SETTINGS) if s.claim_id.endswith("b25000")]
    assert_calibrated(specs, runs)
