import json
import math

import pytest

from papergrid.tokenformer.tuning import SWEPT, choose, read_rates, sweep_job

from .test_grid import BLOCK


def test_the_lowest_finite_loss_wins():
    assert choose({0.003: 1.2, 0.01: 1.1, 0.03: math.nan}) == 0.01
    assert choose({0.003: 1.1, 0.01: 1.1}) == 0.003  # a tie goes to the smaller rate


def test_a_sweep_where_every_rate_diverged_is_an_error():
    with pytest.raises(ValueError, match="every rate of the sweep diverged"):
        choose({0.1: math.nan, 1.0: math.inf})


def test_each_architecture_is_tuned_on_its_function_preserving_growth():
    from papergrid.tokenformer.grid import ARMS

    assert {layer: ARMS[arm].layer for layer, arm in SWEPT.items()} == {x: x for x in SWEPT}
    assert all(ARMS[a].new_keys == "zero" and ARMS[a].keep_scale for a in SWEPT.values())
    assert all(ARMS[a].schedule == "continue" for a in SWEPT.values())


def test_the_sweep_writes_each_kind_s_choice_and_every_loss(tmp_path):
    out = tmp_path / "lr.json"
    sweep_job(BLOCK, "gelu", "cpu", 1, str(out))
    body = json.loads(out.read_text())
    for kind in ("growth", "scratch"):
        losses = body["losses"][kind]
        assert set(losses) == {"0.003", "0.01"}
        assert body[kind] == choose({float(k): v for k, v in losses.items()})
    # a growth run and a scratch run are different runs: their losses differ
    assert body["losses"]["growth"] != body["losses"]["scratch"]
    assert read_rates(str(out)) == {"growth": body["growth"], "scratch": body["scratch"]}


def test_one_rate_is_taken_without_training(tmp_path):
    block = {**BLOCK, "train": {**BLOCK["train"], "lr_grid": [0.02]}}
    out = tmp_path / "lr.json"
    sweep_job(block, "linear", "cpu", 1, str(out))
    assert json.loads(out.read_text()) == {
        "layer": "linear",
        "growth": 0.02,
        "scratch": 0.02,
        "losses": {"growth": {}, "scratch": {}},
    }
