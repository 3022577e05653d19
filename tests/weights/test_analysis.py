import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.weights.analysis import fit_table
from papergrid.weights.claims import claim_specs

from ..verdicts import assert_calibrated, verdicts

SETTINGS = {"auc_threshold": 0.9, "sesoi_exponent": 0.15}


def synthetic_runs(
    exponents, auc_at_widest, widths=(16, 32, 64, 128), seeds=(0, 1, 2, 3), noise=0.03, seed=0
):
    rng = np.random.default_rng(seed)
    rows = []
    for opt, k in exponents.items():
        for w in widths:
            for s in seeds:
                dev = 2.0 * w**k * np.exp(rng.normal(0, noise))
                auc = auc_at_widest[opt] + rng.normal(0, 0.01) if w == max(widths) else 0.7
                rows.append(
                    {
                        "optimizer": opt,
                        "width": w,
                        "seed": s,
                        "status": "ok",
                        "dev_fc1": dev,
                        "dev_fc2": dev,
                        "dev_fc3": dev,
                        "mask_auc": auc,
                    }
                )
    return pd.DataFrame(rows)


def found(runs):
    return verdicts(claim_specs(runs, **SETTINGS), runs)


def test_each_claim_reaches_each_verdict_on_planted_data():
    runs = synthetic_runs(
        {"sgd": -0.5, "adam": -0.05, "adamw": -0.15},
        {"sgd": 0.97, "adam": 0.6, "adamw": 0.9},
    )
    v = found(runs)
    assert v["wider_deviates_less_sgd"] == SUPPORTED
    assert v["wider_deviates_less_adam"] == NOT_SUPPORTED  # k = -0.05: below the SESOI
    assert v["wider_deviates_less_adamw"] == INCONCLUSIVE  # on the margin
    assert v["stamp_visible_sgd"] == SUPPORTED
    assert v["stamp_visible_adam"] == NOT_SUPPORTED
    assert v["stamp_visible_adamw"] == INCONCLUSIVE
    assert v["width_effect_survives_adam"] == NOT_SUPPORTED  # 0.45 less negative than SGD
    same = synthetic_runs(
        {"sgd": -0.5, "adam": -0.48, "adamw": -0.35}, {"sgd": 1, "adam": 1, "adamw": 1}
    )
    v = found(same)
    assert v["width_effect_survives_adam"] == SUPPORTED
    assert v["width_effect_survives_adamw"] == INCONCLUSIVE  # a gap of 0.15, the margin


def test_contrast_is_paired_by_seed():
    # a per-seed offset common to both optimizers cancels in the paired gap
    runs = synthetic_runs({"sgd": -0.5, "adam": -0.5}, {"sgd": 1, "adam": 1}, noise=0.0)
    offset = runs["seed"].map({0: 0.3, 1: -0.2, 2: 0.5, 3: -0.4})
    runs["dev_fc2"] *= np.exp(offset * np.log(runs["width"]) / 5)
    assert found(runs)["width_effect_survives_adam"] == SUPPORTED


def test_flat_deviation_with_noise_is_inconclusive():
    runs = synthetic_runs({"sgd": -0.15}, {"sgd": 0.9}, noise=0.3, seeds=(0, 1, 2))
    v = found(runs)
    assert v["wider_deviates_less_sgd"] == INCONCLUSIVE
    assert v["stamp_visible_sgd"] == INCONCLUSIVE


def test_single_width_gives_no_interval():
    runs = synthetic_runs({"sgd": -0.5}, {"sgd": 0.97}, widths=(64,))
    assert found(runs)["wider_deviates_less_sgd"] == INCONCLUSIVE
    assert fit_table(runs, n_boot=0, level=0.95).empty


def test_diverged_runs_are_excluded():
    runs = synthetic_runs({"sgd": -0.5}, {"sgd": 0.97})
    clean = fit_table(runs, n_boot=0, level=0.95)
    runs.loc[runs.index[:3], ["status", "dev_fc2"]] = ["diverged", 1e6]
    dirty = fit_table(runs, n_boot=0, level=0.95)
    pick = lambda t: t[(t.layer == "fc2") & (t.param == "k")].iloc[0]  # noqa: E731
    assert pick(dirty)["n_points"] == pick(clean)["n_points"] - 3
    assert pick(dirty)["value"] == pytest.approx(-0.5, abs=0.05)
    assert found(runs)["wider_deviates_less_sgd"] == SUPPORTED


def test_rules_are_calibrated_on_a_grid_that_can_decide():
    runs = synthetic_runs({"sgd": -0.5, "adam": -0.1}, {"sgd": 0.97, "adam": 0.7}, seeds=range(6))
    assert_calibrated(claim_specs(runs, **SETTINGS), runs)
