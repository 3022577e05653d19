import math

import numpy as np
import pytest
import torch

from papergrid.weights.data import Dataset
from papergrid.weights.train import WeightsRun, train_weights


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
        seed=0,
        lr=0.1,
        momentum=0.0,
        weight_decay=0.0,
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


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adaptive_optimizers_train(data, optimizer):
    result = train_weights(
        run(optimizer=optimizer, lr=1e-2, weight_decay=0.1), data, torch.device("cpu")
    )
    assert result.status == "ok" and result.curve[-1]["test_acc"] > 0.8


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        run(optimizer="rmsprop")
