import math

import numpy as np
import pandas as pd
import pytest

from papergrid.tokenformer.analysis import (
    compute_markdown,
    compute_table,
    derive,
    flops_to_reach,
)


def curve(run_id, flops, losses, stages=None):
    stages = stages or [0] * len(flops)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "step": np.arange(len(flops)),
            "flops": np.asarray(flops, float),
            "val_loss": np.asarray(losses, float),
            "stage": stages,
        }
    )


GROWN = curve("g", [0, 1, 2, 2, 4, 6], [5, 4, 3, 3.5, 2.5, 2.0], [0, 0, 0, 1, 1, 1])
GROWN["step"] = [0, 1, 2, 2, 3, 4]


def test_flops_to_reach_is_the_first_crossing():
    assert flops_to_reach(GROWN, 3.0) == pytest.approx(2.0)
    assert flops_to_reach(GROWN, 2.25) == pytest.approx(5.0)
    assert flops_to_reach(GROWN, 5.0) == 0.0
    assert math.isnan(flops_to_reach(GROWN, 1.0))


def runs_and_curves():
    rows, curves = [], []
    for seed in (0, 1, 2):
        for arm, layer, steps, losses in (
            ("random", "pattention", 30, [5.0, 3.0, 2.0, 1.9]),
            ("scratch", "pattention", 30, [5.0, 2.5, 2.0, 1.8]),
            ("scratch", "pattention", 10, [5.0, 3.0, 2.6, 2.4]),
        ):
            rid = f"{arm}-{steps}-{seed}"
            flops = [0, 4, 8, 12] if arm != "scratch" or steps == 10 else [0, 10, 20, 30]
            losses = [x + 0.01 * seed for x in losses]
            rows.append(
                {
                    "run_id": rid,
                    "arm": arm,
                    "layer": layer,
                    "steps": steps,
                    "seed": seed,
                    "status": "ok",
                    "val_loss": losses[-1],
                    "flops": float(flops[-1]),
                    "abs_jump": 0.01 if arm != "scratch" else np.nan,
                    "bigram_floor": 2.0,
                    "lr_peak": 0.01,
                }
            )
            curves.append(curve(rid, flops, losses))
    return pd.DataFrame(rows), pd.concat(curves)


def test_derive_measures_each_run_against_its_seed_targets():
    runs, curves = runs_and_curves()
    d = derive(runs, curves, target_steps=30, same_steps=10).set_index("run_id")
    r = d.loc["random-30-1"]
    assert r["target_loss"] == pytest.approx(1.81)
    assert r["target_flops"] == 30
    assert r["gap_to_target"] == pytest.approx(1.91 - 1.81)
    assert math.isnan(r["compute_ratio"])  # never reaches 1.81
    assert r["log10_jump"] == pytest.approx(-2.0)
    assert math.isnan(d.loc["scratch-30-0", "log10_jump"])
    # the same-tokens run ends at 2.41 at 12 FLOPs; the grown run passes it between 4 and
    # 8 FLOPs (3.01 -> 2.01): 4 + 4 * 0.6 = 6.4
    assert r["same_loss"] == pytest.approx(2.41)
    assert r["same_compute_ratio"] == pytest.approx(6.4 / 12)
    assert r["growth_penalty"] == pytest.approx(1.91 - 2.41)
    t = d.loc["scratch-30-0"]
    assert np.isnan(t["growth_penalty"])  # a scratch run grew nothing
    assert t["compute_ratio"] == pytest.approx(1.0) and t["gap_to_target"] == 0


def test_compute_table_reports_each_arm_with_intervals():
    runs, curves = runs_and_curves()
    d = derive(runs, curves, target_steps=30, same_steps=10)
    table = compute_table(d, 0.95)
    assert list(table["arm"]) == ["random", "scratch", "scratch"]
    row = table.iloc[0]
    assert row["compute_ratio_reached"] == 0 and math.isnan(row["compute_ratio"])
    # per seed the same-tokens run ends at 2.4 + 0.01 seed, which the grown run passes at
    # 4 + 4 * 0.6 = 6.4 of its 12 FLOPs, whatever the seed
    assert row["same_compute_ratio_reached"] == 3
    assert row["same_compute_ratio"] == pytest.approx(6.4 / 12)
    assert row["val_loss_low"] < row["val_loss"] < row["val_loss_high"]
    assert row["growth_penalty"] == pytest.approx(-0.5)
    assert row["below_bigram"] == pytest.approx(1.91 - 2.0)
    md = compute_markdown(table, 1 / 3, 0.95)
    assert "| random | pattention | 30 | 3 | 0.01 |" in md and "0/3" in md and "0.533" in md
