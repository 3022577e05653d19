import json
import math

import pytest

from papergrid.tokenformer import tuning
from papergrid.tokenformer.tuning import SWEPT, choose, past_edge, read_rates, sweep_job

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


def test_a_best_rate_on_the_grid_s_edge_points_past_it_at_the_grid_s_ratio():
    grid = [0.005, 0.01, 0.02, 0.04]
    assert past_edge(grid, {0.005: 1.0, 0.01: 1.1, 0.02: 1.2, 0.04: 1.3}) == 0.0025
    assert past_edge(grid, {0.005: 1.3, 0.01: 1.2, 0.02: 1.1, 0.04: 1.0}) == 0.08
    assert past_edge(grid, {0.005: 1.3, 0.01: 1.0, 0.02: 1.1, 0.04: 1.2}) is None
    # an extended sweep steps on from its new edge
    assert past_edge(grid, {0.0025: 0.9, 0.005: 1.0, 0.01: 1.1}) == 0.00125
    assert past_edge(grid, {0.01: 1.0}) is None


def test_the_sweep_steps_past_an_edge_until_the_best_rate_is_inside(tmp_path, monkeypatch):
    """A loss falling with the rate down to 0.002: the sweep tries 0.0025, which wins, and
    then 0.00125, which loses, and stops there; the growth kind (best inside) adds none."""

    def loss(block, data, layer, kind, lr, dev):
        return abs(math.log(lr / (0.002 if kind == "scratch" else 0.01)))

    monkeypatch.setattr(tuning, "sweep_loss", loss)
    monkeypatch.setattr(tuning, "prepare", lambda *a: None)
    train = {**BLOCK["train"], "lr_grid": [0.005, 0.01, 0.02, 0.04], "lr_edge_steps": 2}
    out = tmp_path / "lr.json"
    sweep_job({**BLOCK, "train": train}, "pattention", "cpu", 1, str(out))
    body = json.loads(out.read_text())
    assert body["scratch"] == 0.0025 and body["growth"] == 0.01
    swept = [float(k) for k in body["losses"]["scratch"]]
    assert swept == [0.00125, 0.0025, 0.005, 0.01, 0.02, 0.04]
    assert len(body["losses"]["growth"]) == 4


def test_the_edge_steps_are_a_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "sweep_loss", lambda block, data, layer, kind, lr, dev: lr)
    monkeypatch.setattr(tuning, "prepare", lambda *a: None)
    train = {**BLOCK["train"], "lr_grid": [0.01, 0.02], "lr_edge_steps": 1}
    out = tmp_path / "lr.json"
    sweep_job({**BLOCK, "train": train}, "linear", "cpu", 1, str(out))
    body = json.loads(out.read_text())
    assert body["growth"] == body["scratch"] == 0.005  # still on the edge: recorded as is
    assert set(body["losses"]["growth"]) == {"0.005", "0.01", "0.02"}
