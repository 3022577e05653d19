import math

import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.weights.analysis import UNMATCHED, fit_table, readings, readings_table
from papergrid.weights.claims import claim_specs

from ..verdicts import assert_calibrated, gated, verdicts

SETTINGS = {"auc_threshold": 0.9, "sesoi_exponent": 0.15, "decay_reference": "adam"}


def synthetic_readings(
    exponents,
    auc_at_widest,
    widths=(32, 64, 128, 256),
    seeds=(0, 1, 2, 3),
    noise=0.03,
    seed=1,
    decay=(),
    net_exponents=None,
):
    """Readings at the matched loss: log dev (and log dev net of decay's shrink) linear in
    log width per arm; arms in ``decay`` have weight decay, so their claims read the net."""
    rng = np.random.default_rng(seed)
    rows = []
    for opt, k in exponents.items():
        k_net = (net_exponents or {}).get(opt, k)
        for w in widths:
            for s in seeds:
                auc = auc_at_widest[opt] + rng.normal(0, 0.01) if w == max(widths) else 0.7
                rows.append(
                    {
                        "optimizer": opt,
                        "width": w,
                        "seed": s,
                        "status": "ok",
                        "weight_decay": 0.5 if opt in decay else 0.0,
                        "dev_fc1": 1.0,
                        "dev_fc2": 2.0 * w**k * np.exp(rng.normal(0, noise)),
                        "dev_fc3": 1.0,
                        "net_dev_fc2": 1.5 * w**k_net * np.exp(rng.normal(0, noise)),
                        "mask_auc": auc,
                    }
                )
    return pd.DataFrame(rows)


def found(runs):
    return verdicts(claim_specs(runs, **SETTINGS), runs)


def test_each_claim_reaches_each_verdict_on_planted_data():
    runs = synthetic_readings(
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
    same = synthetic_readings(
        {"sgd": -0.5, "adam": -0.48, "adamw": -0.35}, {"sgd": 1, "adam": 1, "adamw": 1}
    )
    v = found(same)
    assert v["width_effect_survives_adam"] == SUPPORTED
    assert v["width_effect_survives_adamw"] == INCONCLUSIVE  # a gap of 0.15, the margin


def test_an_arm_with_weight_decay_is_read_net_of_its_shrink_against_its_reference():
    # decay's shrink flattens the raw deviation; net of it the width effect is there, and
    # the decay arm is compared with the same optimizer without decay, in the same measure
    runs = synthetic_readings(
        {"sgd": -0.5, "adam": -0.25, "adamw": 0.0},
        {"sgd": 1, "adam": 1, "adamw": 1},
        decay=("adamw",),
        net_exponents={"sgd": -0.9, "adam": -0.3, "adamw": -0.3},
    )
    v = found(runs)
    assert v["wider_deviates_less_adamw"] == SUPPORTED
    assert v["width_effect_survives_adamw"] == SUPPORTED  # -0.3 against adam's -0.3
    assert v["width_effect_survives_adam"] == NOT_SUPPORTED  # dev: -0.25 against -0.5
    specs = {s.claim_id: s for s in claim_specs(runs, **SETTINGS)}
    assert "decay's deterministic shrink" in specs["wider_deviates_less_adamw"].statistic
    assert "minus under adam" in specs["width_effect_survives_adamw"].statistic
    assert "shrink" not in specs["wider_deviates_less_sgd"].statistic
    assert "minus under sgd" in specs["width_effect_survives_adam"].statistic
    # a net deviation that falls less than adam's is read as such, whatever the raw one does
    flat = synthetic_readings(
        {"sgd": -0.5, "adam": -0.5, "adamw": -0.5},
        {"sgd": 1, "adam": 1, "adamw": 1},
        decay=("adamw",),
        net_exponents={"adam": -0.5, "adamw": 0.0},
    )
    v = found(flat)
    assert v["wider_deviates_less_adamw"] == NOT_SUPPORTED
    assert v["width_effect_survives_adamw"] == NOT_SUPPORTED
    # with no decay reference in the grid there is no decay contrast to compute
    alone = flat[flat["optimizer"] != "adam"]
    assert "width_effect_survives_adamw" not in found(alone)


def test_net_deviation_divides_out_a_uniform_shrink():
    from papergrid.weights.analysis import net_deviation

    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(20, 20))
    w = w0 + 0.3 * rng.normal(size=(20, 20))
    norm = np.linalg.norm

    def norm_cos(m):
        return norm(m) / norm(w0), np.sum(m * w0) / (norm(m) * norm(w0))

    for s in (1.0, 0.7, 0.2):
        r, cos = norm_cos(s * w)
        net = net_deviation(np.array([r]), np.array([cos]), np.array([s]))[0]
        assert net == pytest.approx(norm(w - w0) / norm(w0))


def test_a_bent_relation_is_gated_for_lack_of_fit():
    # deviation falls up to width 128, then stops: one slope for 32-256 reads the range
    runs = synthetic_readings({"sgd": -0.5, "adam": -0.5}, {"sgd": 1, "adam": 1}, noise=0.01)
    wide = (runs["optimizer"] == "adam") & (runs["width"] == 256)
    runs.loc[wide, "dev_fc2"] *= 2.0
    g = gated(claim_specs(runs, **SETTINGS), runs)
    assert g["wider_deviates_less_adam"] == (INCONCLUSIVE, "lack_of_fit")
    assert g["width_effect_survives_adam"] == (INCONCLUSIVE, "lack_of_fit")  # reads it too
    assert g["wider_deviates_less_sgd"] == (SUPPORTED, "")
    reason = {c.claim_id: c.gate_reason for c in _evaluate(runs)}["wider_deviates_less_adam"]
    assert "not a straight line in log-log" in reason


def test_no_survival_claim_without_an_effect_to_lose():
    # SGD itself flat: every arm would "keep" a width effect that is not there
    runs = synthetic_readings({"sgd": 0.0, "adam": 0.0}, {"sgd": 1, "adam": 1})
    c = {c.claim_id: c for c in _evaluate(runs)}["width_effect_survives_adam"]
    assert c.verdict_raw == INCONCLUSIVE
    assert "sgd has no width effect to lose" in c.detail


def test_contrast_is_paired_by_seed():
    # a per-seed offset common to both arms cancels in the paired gap
    runs = synthetic_readings({"sgd": -0.5, "adam": -0.5}, {"sgd": 1, "adam": 1}, noise=0.0)
    offset = runs["seed"].map({0: 0.3, 1: -0.2, 2: 0.5, 3: -0.4})
    runs["dev_fc2"] *= np.exp(offset * np.log(runs["width"]) / 5)
    assert found(runs)["width_effect_survives_adam"] == SUPPORTED


def test_the_gap_uses_only_widths_both_arms_reached():
    # adam's width-32 runs never reached the matched loss; if SGD's width-32 points entered
    # its slope, a curved SGD law would open a gap that is not there
    runs = synthetic_readings({"sgd": -0.5, "adam": -0.5}, {"sgd": 1, "adam": 1}, noise=0.01)
    sgd32 = (runs["optimizer"] == "sgd") & (runs["width"] == 32)
    runs.loc[sgd32, "dev_fc2"] *= 3.0
    adam32 = (runs["optimizer"] == "adam") & (runs["width"] == 32)
    runs.loc[adam32, ["status", "dev_fc2"]] = [UNMATCHED, np.nan]
    claims = {c.claim_id: c for c in _evaluate(runs)}
    gap = claims["width_effect_survives_adam"]
    assert gap.estimate == pytest.approx(0.0, abs=0.03)
    assert gap.verdict_raw == SUPPORTED  # SGD's own bend gates it (lack_of_fit), as it should
    assert gap.gate == "lack_of_fit"
    assert "12 of 16 runs read (left out: width 32: 4)" in claims["wider_deviates_less_adam"].detail


def _evaluate(runs):
    from papergrid.claims import evaluate

    return evaluate(claim_specs(runs, **SETTINGS), runs, 0.95)


def test_an_arm_that_mostly_missed_the_matched_loss_is_gated():
    runs = synthetic_readings({"sgd": -0.5, "adam": -0.5}, {"sgd": 1, "adam": 1})
    missed = (runs["optimizer"] == "adam") & (runs["width"] < 256)
    runs.loc[missed, "status"] = UNMATCHED
    g = gated(claim_specs(runs, **SETTINGS), runs)
    assert g["wider_deviates_less_adam"] == (INCONCLUSIVE, "not_learned")
    assert g["width_effect_survives_adam"] == (INCONCLUSIVE, "not_learned")
    assert g["stamp_visible_adam"] == (SUPPORTED, "")  # its widest width reached it
    assert g["wider_deviates_less_sgd"] == (SUPPORTED, "")


def test_flat_deviation_with_noise_is_inconclusive():
    runs = synthetic_readings({"sgd": -0.15}, {"sgd": 0.9}, noise=0.3, seeds=(0, 1, 2))
    v = found(runs)
    assert v["wider_deviates_less_sgd"] == INCONCLUSIVE
    assert v["stamp_visible_sgd"] == INCONCLUSIVE


def test_single_width_gives_no_interval():
    runs = synthetic_readings({"sgd": -0.5}, {"sgd": 0.97}, widths=(64,))
    assert found(runs)["wider_deviates_less_sgd"] == INCONCLUSIVE
    assert fit_table(runs, n_boot=0, level=0.95).empty


def test_diverged_runs_are_excluded():
    runs = synthetic_readings({"sgd": -0.5}, {"sgd": 0.97})
    clean = fit_table(runs, n_boot=0, level=0.95)
    runs.loc[runs.index[:3], ["status", "dev_fc2"]] = ["diverged", 1e6]
    dirty = fit_table(runs, n_boot=0, level=0.95)
    pick = lambda t: t[(t.layer == "fc2") & (t.param == "k")].iloc[0]  # noqa: E731
    assert pick(dirty)["n_points"] == pick(clean)["n_points"] - 3
    assert pick(dirty)["value"] == pytest.approx(-0.5, abs=0.05)
    assert found(runs)["wider_deviates_less_sgd"] == SUPPORTED


def test_rules_are_calibrated_on_a_grid_that_can_decide():
    runs = synthetic_readings(
        {"sgd": -0.5, "adam": -0.4, "adamw": -0.3},
        {"sgd": 0.97, "adam": 0.7, "adamw": 0.8},
        seeds=range(6),
        decay=("adamw",),
    )
    assert_calibrated(claim_specs(runs, **SETTINGS), runs)


def _runs_and_curves(losses: dict, devs: dict):
    """Runs and curves of arm 'sgd' at width 32: per seed, train losses and fc2 deviations
    over epochs 0..n (epoch 0 is the init)."""
    runs, curves = [], []
    for seed, loss in losses.items():
        dev = devs[seed]
        for epoch, (value, d) in enumerate(zip(loss, dev, strict=True)):
            curves.append(
                {
                    "optimizer": "sgd",
                    "width": 32,
                    "seed": seed,
                    "epoch": epoch,
                    "step": 10 * epoch,
                    "train_loss": value,
                    "mask_auc": 1.0 - d / 10,
                    "dev_fc1": d / 2,
                    "dev_fc2": d,
                    "dev_fc3": 2 * d,
                    "cos_fc1": 1.0,
                    "cos_fc2": math.cos(d / 4),
                    "cos_fc3": 1.0,
                    "norm_fc1": 1.0,
                    "norm_fc2": 1.0 + d,
                    "norm_fc3": 1.0,
                }
            )
        runs.append(
            {
                "optimizer": "sgd",
                "width": 32,
                "seed": seed,
                "status": "ok",
                "lr": 0.1,
                "hidden_lr": 0.1,
                "weight_decay": 0.05,
                "epochs_run": len(loss) - 1,
                "train_loss": loss[-1],
                "dev_fc2": dev[-1],
            }
        )
    return pd.DataFrame(runs), pd.DataFrame(curves)


def test_readings_take_the_first_epoch_at_the_matched_loss_and_count_misses():
    runs, curves = _runs_and_curves(
        {0: [2.3, 0.5, 0.09, 0.05, 0.2], 1: [2.3, 0.6, 0.3, 0.2, 0.15]},
        {0: [0.0, 0.2, 0.4, 0.5, 0.8], 1: [0.0, 0.2, 0.3, 0.4, 0.5]},
    )
    read = readings(runs, curves, match_loss=0.1).set_index("seed")
    assert read.loc[0, "status"] == "ok" and read.loc[0, "match_epoch"] == 2
    assert read.loc[0, "dev_fc2"] == 0.4 and read.loc[0, "dev_fc3"] == 0.8
    assert read.loc[0, "angle_fc2"] == pytest.approx(0.1)
    assert read.loc[0, "mask_auc"] == pytest.approx(0.96)
    assert read.loc[0, "drift_fc2"] == pytest.approx(math.log(0.8 / 0.4))  # moved after fitting
    assert read.loc[0, "decay_at_match"] == pytest.approx(0.1 * 0.05 * 20)  # lr wd steps
    assert read.loc[1, "status"] == UNMATCHED and math.isnan(read.loc[1, "dev_fc2"])
    table = readings_table(read.reset_index(), 0.95)
    assert table.iloc[0]["reached"] == "1/2"
    # a run that did not learn keeps that status even where it touched the level
    runs.loc[runs["seed"] == 0, "status"] = "not_learned"
    assert readings(runs, curves, 0.1).set_index("seed").loc[0, "status"] == "not_learned"


def test_the_init_row_is_never_the_matched_epoch():
    runs, curves = _runs_and_curves({0: [0.05, 0.04]}, {0: [0.0, 0.1]})
    read = readings(runs, curves, match_loss=0.1)
    assert read.loc[0, "match_epoch"] == 1 and read.loc[0, "dev_fc2"] == 0.1


def test_local_slopes_show_where_the_relation_bends():
    runs = synthetic_readings({"adam": -0.5}, {"adam": 1}, noise=0.0)
    runs["angle_fc2"] = 0.5
    runs.loc[runs["width"] == 256, "net_dev_fc2"] = runs.loc[
        runs["width"] == 128, "net_dev_fc2"
    ].iloc[0]
    for col in ("match_epoch", "match_train_loss", "end_dev_fc2", "drift_fc2"):
        runs[col] = 1.0
    runs["decay_at_match"] = 0.0
    table = readings_table(runs, 0.95).set_index("width")
    assert table.loc[32, "k_dev_next"] == pytest.approx(-0.5)
    assert table.loc[128, "k_dev_next"] == pytest.approx(0.0, abs=1e-9)  # flat from 128 on
    assert math.isnan(table.loc[256, "k_dev_next"])  # no wider width
