import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.weights.analysis import claims, fit_table


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


def verdicts(runs):
    fits = fit_table(runs, n_boot=200, level=0.95)
    return {c.claim_id: c for c in claims(runs, fits, auc_threshold=0.9, level=0.95)}, fits


def test_planted_exponents_are_recovered_and_judged():
    runs = synthetic_runs({"sgd": -0.5, "adam": 0.3}, {"sgd": 0.97, "adam": 0.6})
    found, fits = verdicts(runs)
    k = fits[(fits.optimizer == "sgd") & (fits.layer == "fc2") & (fits.param == "k")].iloc[0]
    assert k["ci_low"] <= -0.5 <= k["ci_high"]
    assert found["wider_deviates_less_sgd"].verdict == SUPPORTED
    assert found["wider_deviates_less_adam"].verdict == NOT_SUPPORTED
    assert found["stamp_visible_sgd"].verdict == SUPPORTED
    assert found["stamp_visible_adam"].verdict == NOT_SUPPORTED


def test_flat_deviation_with_noise_is_inconclusive():
    runs = synthetic_runs({"sgd": 0.0}, {"sgd": 0.9}, noise=0.3, seeds=(0, 1, 2))
    found, _ = verdicts(runs)
    assert found["wider_deviates_less_sgd"].verdict == INCONCLUSIVE
    assert found["stamp_visible_sgd"].verdict == INCONCLUSIVE


def test_diverged_runs_are_excluded_from_fits():
    runs = synthetic_runs({"sgd": -0.5}, {"sgd": 0.97})
    clean = fit_table(runs, n_boot=0, level=0.95)
    runs.loc[runs.index[:3], ["status", "dev_fc2"]] = ["diverged", 1e6]
    dirty = fit_table(runs, n_boot=0, level=0.95)
    pick = lambda t: t[(t.layer == "fc2") & (t.param == "k")].iloc[0]  # noqa: E731
    assert pick(dirty)["n_points"] == pick(clean)["n_points"] - 3
    assert pick(dirty)["value"] == pytest.approx(-0.5, abs=0.05)


def test_single_width_gives_no_fit_and_inconclusive_claim():
    runs = synthetic_runs({"sgd": -0.5}, {"sgd": 0.97}, widths=(64,))
    found, fits = verdicts(runs)
    assert fits.empty
    assert found["wider_deviates_less_sgd"].verdict == INCONCLUSIVE
