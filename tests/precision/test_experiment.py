import copy
import math

import pytest
import torch

from papergrid.config import ConfigError
from papergrid.lm.sources import prepare
from papergrid.precision.grid import (
    cell_runs,
    check_block,
    grid_row,
    non_embedding_params,
    parse_setting,
    settings,
)
from papergrid.precision.jobs import ptq_losses

BLOCK = {
    "sizes": [
        {"d_model": 8, "n_layer": 2, "n_head": 2},
        {"d_model": 16, "n_layer": 1, "n_head": 2},
    ],
    "grid": {
        "d_model": [8, 16],
        "tokens_per_param": [2, 64],
        "seeds": [0, 1],
        "train_bits": [3, 4, 8],
        "float_formats": ["e2m1", "e4m3"],
        "marginal_bits": [2, 4],
        "marginal_d_model": [8],
    },
    "train": {"steps": 50, "min_batch": 2, "lr": 0.01, "warmup_fraction": 0.1, "evals": 4},
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
        "robust_post_bits": 3,
        "p_star_band": [6, 9],
        "p_star_float_band": [5, 7],
        "multiplier_bits": 3,
    },
}


def test_settings_parse_to_format_bits_and_tensors():
    assert parse_setting("fp")["train_bits"] == math.inf
    assert parse_setting("int3") == {
        "number_format": "int",
        "train_bits": 3.0,
        "tensors": ("weights", "activations", "kv"),
        "spec": 3,
    }
    assert parse_setting("e2m1")["train_bits"] == 4.0  # sign + 2 + 1
    assert parse_setting("e3m2")["spec"] == "e3m2"
    assert parse_setting("kv2")["tensors"] == ("kv",)
    with pytest.raises(ValueError, match="unknown precision setting 'q4'"):
        parse_setting("q4")


def test_one_tensor_sweeps_run_only_at_their_sizes():
    assert settings(BLOCK, 16) == ["fp", "int3", "int4", "int8", "e2m1", "e4m3"]
    small = settings(BLOCK, 8)
    assert small[:6] == settings(BLOCK, 16)
    assert small[6:] == ["w2", "w4", "a2", "a4", "kv2", "kv4"]


def test_every_run_takes_about_the_set_steps_with_the_batch_carrying_d():
    n = non_embedding_params({"d_model": 8, "n_layer": 2, "n_head": 2, "d_ff": 32})
    big = cell_runs(BLOCK, 8, 64)
    sched = big[0]["train"]
    assert sched["batch_size"] == round(64 * n / (50 * 16))
    assert sched["steps"] == math.ceil(64 * n / (sched["batch_size"] * 16))
    assert abs(sched["steps"] - 50) <= 50 * 0.1
    # the smallest D falls to the minimum batch: then fewer steps, never fewer sequences
    long = copy.deepcopy(BLOCK)
    long["train"]["steps"] = 200  # 2 N tokens would be a batch of 1
    small = cell_runs(long, 8, 2)[0]["train"]
    assert small["batch_size"] == 2 and small["steps"] == math.ceil(2 * n / (2 * 16)) < 200
    assert big[0]["markov"]["n_train"] == sched["steps"] * sched["batch_size"]


def test_runs_of_a_cell_share_seed_and_schedule_seed_major():
    runs = cell_runs(BLOCK, 8, 64)
    assert [r["seed"] for r in runs] == [0] * 12 + [1] * 12
    assert {r["train"]["seed"] for r in runs if r["seed"] == 1} == {1}
    assert len({str(r["train"]) for r in runs if r["seed"] == 0}) == 1
    row = grid_row(runs[6])
    assert row == {
        "d_model": 8,
        "tokens_per_param": 64.0,
        "setting": "w2",
        "number_format": "int",
        "quantised": "w",
        "train_bits": 2.0,
        "n_quantised": 1,
    }
    assert grid_row(runs[1])["quantised"] == "w+a+kv"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["grid"].update(d_model=[8, 24]), "24 is not among precision.sizes"),
        (
            lambda b: b["grid"].update(marginal_d_model=[16], d_model=[8]),
            r"marginal_d_model: 16 is not among precision.grid.d_model",
        ),
        (lambda b: b["grid"].update(float_formats=["fp4"]), "'fp4' is not a format eXmY"),
        (lambda b: b["analysis"].update(robust_train_bits=6), "robust_train_bits: 6 is not among"),
        (lambda b: b["analysis"].update(robust_post_bits=7), "robust_post_bits: 7 is not among"),
        (lambda b: b["analysis"].update(multiplier_bits=2), "multiplier_bits: 2 is not among"),
        (lambda b: b["sizes"].append(dict(b["sizes"][0])), r"d_model \[\d+\] listed more"),
        (lambda b: b["analysis"].update(p_star_band=[9, 6]), "p_star_band: .* is empty"),
        (lambda b: b["grid"].update(tokens_per_param=[8]), "at least 2 values"),
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

    run = next(r for r in cell_runs(BLOCK, 16, 64) if r["setting"] == "fp")
    run["train"] = {**run["train"], "steps": 300, "eval_every": 300, "lr": 0.03}
    data = prepare("markov", run["markov"], run["train"]["batch_size"], 0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, **run["model"]))
    train(model, TrainConfig(**run["train"]), data.batches, data.evaluate, torch.device("cpu"))
    before = data.evaluate(model)["val_loss"]
    after = ptq_losses(model, data, (3, 8))
    assert after["val_loss_ptq3"] > after["val_loss_ptq8"] >= before - 1e-3
    assert data.evaluate(model)["val_loss"] == before  # PTQ works on a copy


def test_markov_validation_floor_is_the_true_sources_loss_on_those_targets():
    from papergrid.lm.data.markov import MarkovSource

    cfg = {**BLOCK["markov"], "n_train": 16}
    data = prepare("markov", cfg, 4, 0)
    src = MarkovSource(8, 1, 2, 1.0, 0.01, seed=0)
    val = src.sample(8, 17, seed=2_000_000)
    assert data.meta["val_floor"] == pytest.approx(-src.log_prob(val).mean())
    # a finite sample's floor differs from the entropy rate, its expectation
    assert data.meta["val_floor"] != data.meta["entropy_floor"]
    assert data.meta["unigram"] > data.meta["entropy_floor"]
