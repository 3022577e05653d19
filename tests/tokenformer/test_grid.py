import copy

import pytest

from papergrid.config import ConfigError
from papergrid.tokenformer.grid import (
    ARMS,
    TUNING_SEED,
    check_block,
    families,
    family_runs,
    flops_per_token,
    growth_flops,
    linear_d_ff,
    non_embedding_params,
    run_id,
    same_steps,
    scratch_steps,
    shape,
    stages,
    target_steps,
)
from papergrid.tokenformer.model import LAYERS

BLOCK = {
    "model": {
        "n_layer": 2,
        "d_model": 16,
        "n_head": 2,
        "d_ff": 32,
        "attn_tokens": 8,
        "norm": "l2_gelu",
        "layer_norm": "plain",
    },
    "growth": {"at_steps": [10, 20], "factors": [2, 4]},
    "train": {
        "steps": 30,
        "batch_size": 4,
        "lr_grid": [0.003, 0.01],
        "warmup_steps": 2,
        "eval_every": 5,
        "dtype": "fp32",
    },
    "markov": {
        "structure": "permuted",
        "vocab": 16,
        "order": 2,
        "branching": 2,
        "zipf_s": 2.0,
        "smoothing": 0.01,
        "table_seed": 0,
        "seq_len": 8,
        "n_val": 4,
    },
    "grid": {"arm": list(ARMS), "seed": [0, 1]},
    "analysis": {"level": 0.95, "share": 0.3333, "sesoi_loss": 0.02, "reach_margin": 0.025},
}


def changed(path, value):
    block = copy.deepcopy(BLOCK)
    *head, last = path.split(".")
    node = block
    for k in head:
        node = node[k]
    node[last] = value
    return block


def test_the_default_block_passes_and_plans_three_families():
    check_block(BLOCK)
    assert families(BLOCK) == ["pattention", "gelu", "linear"]
    assert stages(BLOCK) == [(0, 10, 1), (10, 10, 2), (20, 10, 4)]


@pytest.mark.parametrize("layer_norm", ["plain", "affine"])
@pytest.mark.parametrize("factor", [1, 2, 4])
def test_every_architecture_has_equal_n_at_every_stage(factor, layer_norm):
    model = {**BLOCK["model"], "layer_norm": layer_norm}
    n = {layer: non_embedding_params(model, layer, factor) for layer in LAYERS}
    assert len(set(n.values())) == 1, n
    assert shape(model, "pattention", factor)["attn_tokens"] == 8 * factor
    assert shape(model, "gelu", factor) == shape(model, "pattention", factor)


def test_linear_width_absorbs_extra_attention_tokens():
    model = {**BLOCK["model"], "attn_tokens": 16}  # attention twice the standard's
    assert linear_d_ff(model) == 4 * 16 + 32 - 2 * 16
    assert non_embedding_params(model, "pattention") == non_embedding_params(model, "linear")


@pytest.mark.parametrize(
    "path,value,message",
    [
        ("model.norm", "relu", "tokenformer.model.norm: unknown 'relu'; allowed"),
        ("growth.factors", [0, 4], "tokenformer.growth.factors: 0 is not a whole number above 1"),
        ("growth.factors", [4, 2], "tokenformer.growth.factors: [4, 2] must be strictly"),
        ("growth.at_steps", [10, 40], "tokenformer.growth.at_steps: [40] outside the run's steps"),
        ("growth.at_steps", [10], "at_steps [10] and factors [2, 4] differ in length"),
        ("train.warmup_steps", 12, "tokenformer.train.warmup_steps: 12 exceeds the shortest"),
        ("train.warmup_steps", 31, "tokenformer.train.warmup_steps: 31 exceeds train.steps"),
        ("train.lr_grid", [0.01, 0.003], "tokenformer.train.lr_grid: [0.01, 0.003] must be"),
        ("model.layer_norm", "rms", "tokenformer.model.layer_norm: unknown 'rms'; allowed"),
        ("markov.structure", "tree", "tokenformer.markov.structure: unknown 'tree'; allowed"),
        ("markov.order", 3, "tokenformer.markov.order: 3 with structure permuted; allowed: 2"),
        ("markov.branching", 17, "tokenformer.markov.branching: 17 exceeds vocab 16"),
        ("grid.seed", [0, TUNING_SEED], "tokenformer.grid.seed: 1000000 is the learning-rate"),
        ("grid.arm", ["zero_fixed", "net2net"], "tokenformer.grid.arm: unknown arm 'net2net'"),
        ("model.n_head", 3, "tokenformer.model.n_head: 3 does not divide d_model 16"),
        ("model.attn_tokens", 1, "4 attn_tokens + d_ff must exceed 2 d_model"),
    ],
)
def test_bad_blocks_name_the_key(path, value, message):
    block = changed(path, value)
    if path == "model.attn_tokens":
        block["model"]["d_ff"] = 4
    with pytest.raises(ConfigError) as err:
        check_block(block)
    assert message in str(err.value)


def test_a_warmup_longer_than_a_stage_is_fine_without_a_restart_arm():
    block = changed("train.warmup_steps", 12)
    block["grid"]["arm"] = ["zero_fixed", "plain_zero"]
    check_block(block)


def test_family_runs_are_every_growth_arm_and_scratch_run_of_a_layer():
    runs = family_runs(BLOCK, "pattention", 1)
    target = target_steps(BLOCK)
    assert [(r["arm"], r["steps"]) for r in runs] == [
        ("zero_fixed", 30),
        ("random", 30),
        ("zero_rescaled", 30),
        ("zero_fixed_restart", 30),
        ("scratch", 30),
        ("scratch", target),
    ]
    # the target is the paper's claim about parameter attention: no other architecture's
    assert [r["arm"] for r in family_runs(BLOCK, "gelu", 1)] == ["gelu_zero", "scratch"]
    assert [r["arm"] for r in family_runs(BLOCK, "linear", 1)] == [
        "plain_zero",
        "plain_net2net",
        "scratch",
    ]
    assert scratch_steps(BLOCK, "linear") == [same_steps(BLOCK)]
    ids = {run_id(r) for layer in LAYERS for s in (0, 1) for r in family_runs(BLOCK, layer, s)}
    assert len(ids) == 2 * (6 + 2 + 3)


def test_a_grid_without_plain_growth_trains_no_linear_family():
    assert families(changed("grid.arm", ["random"])) == ["pattention"]


@pytest.mark.parametrize("layer_norm", ["plain", "affine"])
@pytest.mark.parametrize(
    "layer,factor", [("pattention", 1), ("pattention", 4), ("gelu", 2), ("linear", 2)]
)
def test_planned_n_and_flops_are_the_built_model_s(layer, factor, layer_norm):
    from papergrid.lm.model import GPTConfig
    from papergrid.tokenformer.model import build

    block = changed("model.layer_norm", layer_norm)
    cfg = GPTConfig(vocab_size=16, block_size=8, **shape(block["model"], layer, factor))
    model = build(cfg, layer, layer_norm)
    assert non_embedding_params(block["model"], layer, factor) == model.num_params()
    assert flops_per_token(block, layer, factor) == model.flops_per_token(8)


def test_the_target_run_spends_the_growth_run_flops_over_the_share():
    per_step = 4 * 8 * flops_per_token(BLOCK, "pattention", 4)
    target = target_steps(BLOCK)
    # the fewest steps with at least three times a growth run's FLOPs
    assert target * per_step * 0.3333 >= growth_flops(BLOCK)
    assert (target - 1) * per_step * 0.3333 < growth_flops(BLOCK)
    assert growth_flops(BLOCK, "linear") == pytest.approx(growth_flops(BLOCK))
    assert same_steps(BLOCK) == 30 < target
    half = changed("analysis.share", 0.5)
    assert target_steps(half) < target
