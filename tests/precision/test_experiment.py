import copy
import math

import pytest
import torch

from papergrid.config import ConfigError
from papergrid.lm.sources import prepare
from papergrid.precision.grid import bits_value, cell_runs, check_block, non_embedding_params
from papergrid.precision.jobs import ptq_losses

BLOCK = {
    "sizes": [
        {"d_model": 8, "n_layer": 2, "n_head": 2},
        {"d_model": 16, "n_layer": 1, "n_head": 2},
    ],
    "grid": {"d_model": [8, 16], "tokens_per_param": [2, 64], "train_bits": [4, 8, "fp"]},
    "quantise": ["weights", "activations", "kv"],
    "train": {"batch_size": 8, "lr": 0.01, "warmup_fraction": 0.1, "evals": 4, "seed": 0},
    "markov": {
        "vocab": 8,
        "order": 1,
        "branching": 2,
        "zipf_s": 1.0,
        "smoothing": 0.01,
        "table_seed": 0,
        "seq_len": 16,
        "n_val": 8,
    },
    "analysis": {
        "n_boot": 10,
        "level": 0.95,
        "saturation_bits": 8,
        "robust_train_bits": 4,
        "robust_post_bits": 4,
        "p_star_band": [6, 9],
    },
}


def test_each_point_gets_its_own_schedule_for_its_tokens():
    runs = cell_runs(BLOCK, 8, 64)
    n = non_embedding_params({"d_model": 8, "n_layer": 2, "n_head": 2, "d_ff": 32})
    steps = math.ceil(64 * n / (8 * 16))
    assert [r["train_bits"] for r in runs] == [4, 8, "fp"]
    assert all(r["train"]["steps"] == steps for r in runs)
    assert runs[0]["train"]["warmup_steps"] == round(0.1 * steps)
    assert runs[0]["markov"]["n_train"] == steps * 8  # fresh sequences for D tokens
    assert runs[-1]["quantise"] == [] and runs[0]["quantise"] == BLOCK["quantise"]
    assert cell_runs(BLOCK, 8, 2)[0]["train"]["steps"] < steps


def test_bits_value_marks_full_precision_infinite():
    assert bits_value("fp") == math.inf and bits_value(4) == 4.0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["grid"].update(d_model=[8, 24]), "24 is not among precision.sizes"),
        (lambda b: b["grid"].update(train_bits=[4, 8]), "must include 'fp'"),
        (lambda b: b["analysis"].update(robust_train_bits=6), "robust_train_bits: 6 is not among"),
        (lambda b: b["sizes"].append(dict(b["sizes"][0])), r"d_model \[\d+\] listed more"),
        (lambda b: b["analysis"].update(p_star_band=[9, 6]), "is empty"),
    ],
)
def test_cross_key_checks_name_the_key(mutate, message):
    block = copy.deepcopy(BLOCK)
    mutate(block)
    with pytest.raises(ConfigError, match=message):
        check_block(block)
    check_block(BLOCK)


def test_ptq_losses_grow_as_bits_fall():
    from papergrid.lm.model import GPT, GPTConfig
    from papergrid.lm.trainer import TrainConfig, train

    run = cell_runs(BLOCK, 16, 64)[-1]
    data = prepare("markov", run["markov"], 8, 0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, **run["model"]))
    train(model, TrainConfig(**run["train"]), data.batches, data.evaluate, torch.device("cpu"))
    before = data.evaluate(model)["val_loss"]
    after = ptq_losses(model, data, (3, 8))
    assert after["val_loss_ptq3"] > after["val_loss_ptq8"] >= before - 1e-3
    assert data.evaluate(model)["val_loss"] == before  # PTQ works on a copy
