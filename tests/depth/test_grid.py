import copy
from pathlib import Path

import pytest
import yaml

from papergrid.config import ConfigError
from papergrid.depth.grid import TOLERANCE, cell_runs, check_block, d_ff_for, realised_params, shape

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
    b["budgets"].append(dict(b["budgets"][0], d_model=64))
    with pytest.raises(ConfigError) as err:
        check_block(b)
    msg = str(err.value)
    assert "depth.grid.budget: 999" in msg
    assert "64 layers do not fit budget" in msg
    assert "must include 1" in msg
    assert "depth.analysis.compare_depth: 3" in msg
    assert f"depth.budgets: params [{b['budgets'][0]['params']}] listed more than once" in msg


def test_cell_runs_one_per_seed_with_flags():
    b = block()
    runs = cell_runs(b, 48000, 8)
    assert [r["seed"] for r in runs] == b["grid"]["seed"]
    assert all(r["narrow"] for r in runs)
    assert {r["train"]["seed"] for r in runs} == set(b["grid"]["seed"])
    assert not cell_runs(b, 48000, 1)[0]["narrow"]
