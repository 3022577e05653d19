import math

import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.depth.analysis import (
    claims,
    depth_at_share,
    fit_table,
    matched_loss_slope,
    with_ood,
)

SETTINGS = dict(
    compare_depth=4, saturation_depth=6, share=0.9, length_threshold=0.05, n_boot=200, level=0.95
)


def synthetic(ood_slope: float, length_acc: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Runs whose LM loss follows 1.5 + 0.8 d^-1.5 and whose OOD accuracy rises with
    log2(depth) by ``ood_slope`` at equal ID loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for budget, d_model in ((25000, 24), (48000, 32)):
        for depth in (1, 2, 4, 8):
            for s in range(4):
                id_loss = 0.1 * math.exp(rng.normal(0, 0.2))
                ood = 0.1 + ood_slope * math.log2(depth) - 0.3 * id_loss + rng.normal(0, 0.01)
                rows.append(
                    {
                        "budget": budget,
                        "depth": depth,
                        "seed": s,
                        "d_model": d_model,
                        "narrow": depth == 8,
                        "status": "ok",
                        "lm_loss": (1.5 + 0.8 * depth**-1.5) * math.exp(rng.normal(0, 0.003)),
                        "val_loss": id_loss,
                        "acc_id": 0.95,
                        "acc_around_right": ood,
                        "acc_add_jump": ood,
                        "acc_length": length_acc,
                    }
                )
    return pd.DataFrame(rows)


def test_depth_at_share_solves_the_gain_equation():
    k, best = 1.3, 8.0
    d = depth_at_share(k, best, 0.9)
    assert 1 - d**-k == pytest.approx(0.9 * (1 - best**-k))
    assert math.isnan(depth_at_share(-0.1, best, 0.9))


def test_fit_recovers_the_planted_law_per_budget():
    table = fit_table(synthetic(0.1), share=0.9, n_boot=50, level=0.95)
    lm = table[(table["metric"] == "lm_loss")].set_index(["budget", "param"])
    for budget in (25000, 48000):
        k = lm.loc[(budget, "k")]
        assert k["value"] == pytest.approx(1.5, abs=0.15) and k["status"] == "ok"
        assert k["ci_low"] < k["value"] < k["ci_high"]
        d90 = lm.loc[(budget, "depth_90pct_gain")]
        assert d90["value"] == pytest.approx(depth_at_share(1.5, 8, 0.9), rel=0.1)
        assert d90["ci_low"] < d90["value"] < d90["ci_high"]


def test_matched_loss_slope_recovers_planted_coefficient():
    runs = with_ood(synthetic(0.12))
    est, lo, hi = matched_loss_slope(runs, n_boot=300, level=0.95)
    assert lo <= 0.12 <= hi and lo > 0


@pytest.mark.parametrize(("slope", "expected"), [(0.1, SUPPORTED), (-0.1, NOT_SUPPORTED)])
def test_claims_follow_the_planted_depth_effect(slope, expected):
    runs = synthetic(slope)
    fits = fit_table(runs, share=0.9, n_boot=30, level=0.95)
    found = {c.claim_id: c for c in claims(runs, fits, **SETTINGS)}
    for budget in (25000, 48000):
        assert found[f"deeper_generalises_better_b{budget}"].verdict == expected
        assert found[f"depth_helps_at_matched_loss_b{budget}"].verdict == expected
        # the planted law has 90% of its gain by about 3.6 layers
        assert found[f"gains_saturate_lm_loss_b{budget}"].verdict == SUPPORTED
        # the planted law keeps improving: the deepest is not worse
        assert found[f"narrowest_worse_b{budget}"].verdict == NOT_SUPPORTED
    assert found["length_near_zero"].verdict == SUPPORTED


def test_length_claim_fails_when_any_cell_generalises():
    runs = synthetic(0.1)
    cell = (runs["budget"] == 25000) & (runs["depth"] == 2)
    runs.loc[cell, "acc_length"] = [0.3, 0.32, 0.29, 0.31]
    fits = fit_table(runs, share=0.9, n_boot=20, level=0.95)
    found = {c.claim_id: c for c in claims(runs, fits, **SETTINGS)}
    assert found["length_near_zero"].verdict == NOT_SUPPORTED
    assert "depth 2" in found["length_near_zero"].detail


def test_untested_and_unfitted_claims_are_inconclusive():
    runs = synthetic(0.1)
    runs["narrow"] = False
    no_fits = pd.DataFrame(
        columns=["budget", "metric", "param", "value", "ci_low", "ci_high", "status"]
    )
    found = {c.claim_id: c for c in claims(runs, no_fits, **SETTINGS)}
    assert found["narrowest_worse_b25000"].verdict == INCONCLUSIVE
    assert "not tested" in found["narrowest_worse_b25000"].detail
    assert found["gains_saturate_lm_loss_b25000"].verdict == INCONCLUSIVE
