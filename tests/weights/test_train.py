import math

import numpy as np
import pytest
import torch

from papergrid.weights.data import Dataset
from papergrid.weights.model import MLP
from papergrid.weights.train import WeightsRun, cosine, make_optimizer, train_weights


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 16)).astype(np.float32)
    y = rng.integers(0, 3, 240)
    x = (centers[y] + 0.3 * rng.normal(size=(240, 16))).astype(np.float32)
    return Dataset("blobs", x[:180], y[:180], x[180:], y[180:])


def run(**over):
    base = dict(
        width=16,
        optimizer="sgd",
        kind="sgd",
        seed=0,
        lr=0.1,
        momentum=0.0,
        lr_width="constant",
        lr_base_width=0,
        decay_dose=0.0,
        epochs=5,
        batch_size=32,
        stamp_mode="zero",
        stamp_letter="a",
        stamp_amplitude=0.4,
    )
    return WeightsRun(**{**base, **over})


def test_logs_init_and_every_epoch_and_learns(data):
    result = train_weights(run(), data, torch.device("cpu"))
    assert result.status == "ok"
    assert [r["epoch"] for r in result.curve] == list(range(6))
    first, last = result.curve[0], result.curve[-1]
    assert first["dev_fc2"] == 0.0 and first["mask_auc"] == pytest.approx(1.0)
    assert first["cos_fc2"] == pytest.approx(1.0) and last["cos_fc2"] < 1.0
    assert last["train_loss"] < first["train_loss"]
    assert last["test_acc"] > 0.8
    assert last["dev_fc2"] > 0 and last["step"] == 5 * math.ceil(180 / 32)


def test_same_seed_same_metrics_and_other_seed_differs(data):
    a = train_weights(run(seed=3), data, torch.device("cpu")).curve[-1]
    b = train_weights(run(seed=3), data, torch.device("cpu")).curve[-1]
    c = train_weights(run(seed=4), data, torch.device("cpu")).curve[-1]
    assert a == b
    assert a["train_loss"] != c["train_loss"]


def test_nan_loss_stops_with_status_diverged(data):
    result = train_weights(run(lr=1e6, epochs=20), data, torch.device("cpu"))
    assert result.status == "diverged"
    assert len(result.curve) < 21
    assert math.isnan(result.curve[-1]["train_loss"])


@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_adaptive_optimizers_train(data, kind):
    result = train_weights(run(kind=kind, lr=1e-2, decay_dose=0.1), data, torch.device("cpu"))
    assert result.status == "ok" and result.curve[-1]["test_acc"] > 0.8


def test_unknown_optimizer_type_and_width_rule_are_refused():
    with pytest.raises(ValueError, match="optimizer type must be one of"):
        run(kind="rmsprop")
    with pytest.raises(ValueError, match="lr_width must be one of"):
        run(lr_width="sqrt")


def test_inverse_width_rule_scales_the_layers_fed_by_hidden_units():
    cfg = run(kind="adam", lr=1e-3, lr_width="inverse", lr_base_width=64, width=256)
    opt = make_optimizer(cfg, MLP(16, 256, 3), steps=100)
    fc1, hidden = opt.param_groups
    assert fc1["lr"] == 1e-3 and hidden["lr"] == pytest.approx(1e-3 * 64 / 256)
    assert fc1["weight_decay"] == hidden["weight_decay"] == 0.0
    assert len(hidden["params"]) == 4  # fc2 and fc3, weights and biases
    at_base = make_optimizer(cfg.__class__(**{**cfg.__dict__, "width": 64}), MLP(16, 64, 3), 100)
    assert [g["lr"] for g in at_base.param_groups] == [1e-3, 1e-3]


def test_decay_dose_sets_the_coefficient_for_the_run_length(data):
    cfg = run(kind="adamw", lr=1e-3, decay_dose=1.2)
    assert cfg.weight_decay(1200) == pytest.approx(1.0)  # lr * wd * steps = 1.2
    assert run(kind="adamw").weight_decay(1200) == 0.0
    result = train_weights(cfg, data, torch.device("cpu"))
    steps = 5 * math.ceil(180 / 32)
    assert result.extra["weight_decay"] == pytest.approx(1.2 / (1e-3 * steps))
    # under the inverse width rule every layer still receives the dose: rate x coefficient
    scaled = run(kind="adamw", lr=1e-3, decay_dose=1.2, lr_width="inverse", lr_base_width=4)
    opt = make_optimizer(scaled, MLP(16, 16, 3), steps=100)
    for g in opt.param_groups:
        assert g["lr"] * g["weight_decay"] * 100 == pytest.approx(1.2)


def test_cosine_is_blind_to_a_uniform_shrink():
    w0 = torch.randn(8, 8)
    w = w0 + 0.1 * torch.randn(8, 8)
    assert cosine(0.3 * w, w0) == pytest.approx(cosine(w, w0), rel=1e-6)
    assert cosine(w0, w0) == pytest.approx(1.0)
