import math

import numpy as np
import pytest
import torch

from papergrid.depth.jobs import (
    Pretrained,
    SharedBatches,
    bracket_data,
    joint_tokenizer,
    matched_target,
    pretrain,
)
from papergrid.lm.batches import PairBatches
from papergrid.lm.data.dyck import DyckSource
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.tokenizer import Tokenizer
from papergrid.lm.trainer import TrainConfig, train


def pretrained(losses):
    return Pretrained(
        steps=[10 * i for i in range(len(losses))],
        losses=losses,
        states=[{} for _ in losses],
        floor=1.0,
        status="ok",
    )


def test_start_is_the_checkpoint_closest_to_the_target_never_the_initialisation():
    pre = pretrained([1.0, 2.0, 1.6, 1.45, 1.2])
    assert pre.start(1.5) == 3  # |1.45 - 1.5| is the smallest gap
    assert pre.start(1.6) == 2  # exactly matched
    assert pre.start(0.9) == 4  # never reached: the closest is the last
    assert pre.start(1.0) == 4  # the initialisation's loss does not count
    assert pre.start(math.nan) == 4  # no matching asked for: the last
    assert pretrained([3.0, 2.0, math.nan]).start(1.0) == 1  # the last finite one


def test_the_target_is_the_loss_every_finished_model_reached():
    assert matched_target([1.5, 1.8, 1.6]) == 1.8
    assert matched_target([1.5, math.nan]) == 1.5  # a diverged model does not set it
    assert math.isnan(matched_target([math.nan]))


def test_joint_tokenizer_keeps_scan_ids_and_adds_each_bracket_once():
    scan = Tokenizer.build("word", ["walk left", "jump twice"])
    joint = joint_tokenizer(scan, DyckSource(k=3))
    assert joint.tokens[: len(scan)] == scan.tokens
    assert len(joint) == len(scan) + 6
    assert joint.encode("walk left") == scan.encode("walk left")


def test_pretraining_keeps_the_weights_of_every_evaluation():
    dyck = {"k": 2, "p_open": 0.5, "max_depth": 3, "seq_len": 8, "n_train": 64, "n_val": 8}
    data = bracket_data(dyck, offset=5, seed=0)
    assert data.train.min() >= 5 and data.val.min() >= 5  # shifted past the SCAN ids
    assert 0 < data.floor < math.log(4)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=9, block_size=8, n_layer=1, d_model=8, n_head=2, d_ff=8))
    train = {"steps": 6, "batch_size": 4, "lr": 0.01, "warmup_steps": 1, "eval_every": 2}
    pre = pretrain(model, train, data, torch.device("cpu"))
    assert pre.steps == [0, 2, 4, 6] and len(pre.states) == 4 and pre.status == "ok"
    final = model.state_dict()
    assert all(torch.equal(pre.states[-1][k], final[k]) for k in final)
    assert not torch.equal(pre.states[0]["wte.weight"], final["wte.weight"])
    # each copy holds the weights its loss was measured on, untouched by later training
    probe = GPT(model.cfg)
    for i in (1, 2):
        probe.load_state_dict(pre.states[i])
        with torch.no_grad():
            _, loss = probe(data.val[:, :-1], data.val[:, 1:])
        assert loss.item() == pytest.approx(pre.losses[i], rel=1e-6)
    assert np.isfinite(pre.final_loss)


def test_shared_batches_train_every_depth_exactly_as_fresh_batches_would():
    rng = np.random.default_rng(0)
    pairs = [
        (list(rng.integers(1, 9, rng.integers(2, 5))), list(rng.integers(1, 9, rng.integers(1, 6))))
        for _ in range(40)
    ]
    fresh = PairBatches(pairs, batch_size=8, seed=3, pad_id=0)
    shared = SharedBatches(fresh)
    cfg = TrainConfig(steps=5, batch_size=8, lr=0.01, warmup_steps=1, eval_every=5)

    def weights(batches, n_layer):
        torch.manual_seed(n_layer)
        shape = {"n_layer": n_layer, "d_model": 8, "n_head": 2, "d_ff": 8}
        model = GPT(GPTConfig(vocab_size=9, block_size=12, **shape))
        train(model, cfg, batches, lambda m: {}, torch.device("cpu"))
        return model.state_dict()

    for n_layer in (1, 2):  # the second depth reads batches the first one trained on
        want, got = weights(fresh, n_layer), weights(shared, n_layer)
        assert all(torch.equal(want[k], got[k]) for k in want)
    assert sorted(shared.built) == list(range(5))  # each step built once
    assert shared.get(2) is shared.get(2)
