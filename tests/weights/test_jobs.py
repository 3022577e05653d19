import json

import numpy as np
import pytest

from papergrid.weights.data import Dataset, save_dataset
from papergrid.weights.grid import tune_run
from papergrid.weights.jobs import choose_lr, resolve_lr, tune_job, validation_split


def test_choose_lr_takes_the_lowest_mean_best_validation_loss():
    table = [
        {"lr": 1e-3, "best_val_loss": 0.20},
        {"lr": 1e-3, "best_val_loss": 0.10},
        {"lr": 3e-3, "best_val_loss": 0.12},
        {"lr": 3e-3, "best_val_loss": 0.14},
        {"lr": 1e-2, "best_val_loss": 0.01},
        {"lr": 1e-2, "best_val_loss": float("inf")},  # one diverged seed rules it out
    ]
    assert choose_lr(table) == 3e-3
    with pytest.raises(ValueError, match="every learning rate diverged"):
        choose_lr([{"lr": 1.0, "best_val_loss": float("inf")}])


def test_validation_split_is_stratified_and_leaves_the_test_set_alone():
    y = np.repeat(np.arange(4), 25)
    x = np.arange(100, dtype=np.float32)[:, None]
    data = Dataset("d", x, y, x[:7] + 1000, y[:7])
    split = validation_split(data, 0.2, seed=0)
    assert np.bincount(split.y_test).tolist() == [5, 5, 5, 5]
    assert len(split.y_train) == 80 and not set(split.x_train[:, 0]) & set(split.x_test[:, 0])
    assert 1000 not in split.x_test  # the test images are never read
    again = validation_split(data, 0.2, seed=0)
    assert np.array_equal(split.x_test, again.x_test)


def test_resolve_lr_fills_a_tuned_rate_and_refuses_a_missing_one():
    run = {"width": 32, "optimizer": "adam", "seed": 0, "lr": "tuned"}
    assert resolve_lr(run, 0.003)["lr"] == 0.003
    assert resolve_lr({**run, "lr": 0.1}, None)["lr"] == 0.1
    with pytest.raises(ValueError, match="weights/w32-adam-s0: lr is 'tuned'"):
        resolve_lr(run, None)


def test_tune_job_writes_the_chosen_rate_and_its_table(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)).astype(np.float32)
    y = rng.integers(0, 3, 150)
    x = (centers[y] + 0.3 * rng.normal(size=(150, 8))).astype(np.float32)
    save_dataset(Dataset("blobs", x[:120], y[:120], x[120:], y[120:]), tmp_path / "d.npz")
    block = {
        "tune": {"width": 8},
        "train": {"epochs": 3, "batch_size": 32},
        "stamp": {"mode": "zero", "letter": "a", "amplitude": 0.4},
    }
    base = tune_run(block)  # the run the workflow's tuning rule passes
    chosen = tune_job(
        base,
        [1e-4, 1e-2],
        [0, 1],
        0.2,
        0,
        tmp_path / "d.npz",
        "cpu",
        1,
        tmp_path / "t.json",
        tmp_path / "t.md",
    )
    out = json.loads((tmp_path / "t.json").read_text())
    assert out["lr"] == chosen == 1e-2  # three epochs at 1e-4 barely move
    assert len(out["runs"]) == 4 and "Chosen: **0.01**" in (tmp_path / "t.md").read_text()
