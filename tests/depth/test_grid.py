import copy
from pathlib import Path

import pytest
import yaml

from papergrid.config import ConfigError
from papergrid.depth.grid import (
    TOLERANCE,
    check_block,
    d_ff_for,
    equivalent_steps,
    realised_params,
    seed_runs,
    shape,
)

ROOT = Path(__file__).resolve().parents[2]


def block(name: str = "config.yaml") -> dict:
    base = yaml.safe_load((ROOT / "config.yaml").read_text())["depth"]
    if name != "config.yaml":
        base.update(yaml.safe_load((ROOT / name).read_text())["depth"])
    return base


@pytest.mark.parametrize("name", ["config.yaml", "config.paper.yaml"])
def test_every_shipped_shape_is_within_tolerance_and_ends_narrow(name):
    b = block(name)
    check_block(b)
    for size in b["budgets"]:
        depths = sorted(b["grid"]["depth"])
        shapes = [shape(size, d) for d in depths]
        assert all(abs(realised_params(s) / size["params"] - 1) <= TOLERANCE for s in shapes)
        assert [s["d_ff"] for s in shapes] == sorted((s["d_ff"] for s in shapes), reverse=True)
        assert shapes[-1]["d_ff"] < size["d_model"]  # the deepest model is "narrow"
        assert shapes[0]["d_ff"] > size["d_model"]


def test_d_ff_follows_the_closed_form():
    # 1 layer, d 32: 4d + 4d^2 + 2 d d_ff + 2d = 48000
    d_ff = d_ff_for(48000, 32, 1)
    assert d_ff == round((48000 - 64 - 128 - 4 * 32 * 32) / 64)
    assert realised_params(
        {"n_layer": 1, "d_model": 32, "n_head": 4, "d_ff": d_ff}
    ) == pytest.approx(48000, abs=64)


def test_check_block_names_each_problem():
    b = copy.deepcopy(block())
    b["grid"]["budget"].append(999)
    b["grid"]["depth"] = [2, 64]
    b["analysis"]["compare_depth"] = 3
    b["analysis"]["trend_depths"] = [1, 2, 3]
    b["pretrain"]["train"]["eval_every"] = b["pretrain"]["train"]["steps"] + 1
    b["budgets"].append(dict(b["budgets"][0], d_model=64))
    with pytest.raises(ConfigError) as err:
        check_block(b)
    msg = str(err.value)
    assert "depth.grid.budget: 999" in msg
    assert "64 layers do not fit budget" in msg
    assert "must include 1" in msg
    assert "depth.analysis.compare_depth: 3" in msg
    assert "depth.analysis.trend_depths: [1, 3] not among" in msg
    assert "depth.pretrain.train.eval_every" in msg
    assert f"depth.budgets: params [{b['budgets'][0]['params']}] listed more than once" in msg


def test_seed_runs_train_every_depth_of_a_seed_depth_one_first():
    b = copy.deepcopy(block())
    b["grid"]["depth"] = [4, 1, 8, 2]
    budget = b["budgets"][0]["params"]
    runs = seed_runs(b, budget, 5)
    assert [r["depth"] for r in runs] == [1, 2, 4, 8]
    assert {r["seed"] for r in runs} == {5}
    assert (
        {r["train"]["seed"] for r in runs} == {r["pretrain"]["train"]["seed"] for r in runs} == {5}
    )
    assert [r["narrow"] for r in runs] == [False, False, False, True]
    assert all(r["pretrain"]["match"] is b["pretrain"]["match"] for r in runs)


def test_resource_steps_count_pretraining_and_decoding():
    b = copy.deepcopy(block())
    run = seed_runs(b, b["budgets"][0]["params"], 0)[0]
    base = equivalent_steps(run, 59)
    assert base > run["train"]["steps"]
    run["pretrain"]["train"]["steps"] *= 2
    assert equivalent_steps(run, 59) > base
    run["scan"]["n_eval"] = 10  # decoding 40 commands instead of every one
    assert equivalent_steps(run, 59) < base
