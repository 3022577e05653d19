import math

import pytest
import torch

from papergrid.lm.config import GPTConfig
from papergrid.lm.growth import carry_adam_state, grow
from papergrid.lm.trainer import TrainConfig, lr_at, make_optimizer
from papergrid.tokenformer.model import build, builder
from papergrid.tokenformer.schedule import lr_schedule, stage_of

BOUNDS = [(0, 10, 1), (10, 10, 2), (20, 10, 4)]
TOTAL = TrainConfig(steps=30, batch_size=2, lr=0.01, warmup_steps=2)


def test_stage_of_finds_the_stage_of_each_step():
    assert [stage_of(BOUNDS, s)[0] for s in (0, 9, 10, 19, 20, 29)] == [0, 0, 10, 10, 20, 20]


def test_the_continued_schedule_is_one_warmup_and_cosine():
    at = lr_schedule(TOTAL, "continue", BOUNDS)
    assert [at(s) for s in range(30)] == [lr_at(TOTAL, s) for s in range(30)]
    assert at(29) < at(20) < at(10)  # decays through the growths


def test_the_restart_schedule_warms_up_at_every_growth_after_the_shared_first_stage():
    at = lr_schedule(TOTAL, "restart", BOUNDS)
    assert [at(s) for s in range(10)] == [lr_at(TOTAL, s) for s in range(10)]
    stage = TrainConfig(steps=10, batch_size=2, lr=0.01, warmup_steps=2)
    for first in (10, 20):
        assert [at(first + s) for s in range(10)] == [lr_at(stage, s) for s in range(10)]
    assert at(10) == pytest.approx(0.005) and at(11) == pytest.approx(0.01)


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_schedule(TOTAL, "cyclic", BOUNDS)


def small(layer: str, factor: int) -> GPTConfig:
    if layer == "linear":
        return GPTConfig(
            vocab_size=11, block_size=6, n_layer=1, d_model=8, n_head=2, d_ff=8 * factor
        )
    return GPTConfig(
        vocab_size=11,
        block_size=6,
        n_layer=1,
        d_model=8,
        n_head=2,
        d_ff=8 * factor,
        layer="pattention",
        attn_tokens=4 * factor,
    )


def trained_one_step(model, cfg):
    opt = make_optimizer(model, cfg)
    x = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(1))
    model(x, x)[1].backward()
    opt.step()
    return opt, x


@pytest.mark.parametrize("layer", ["pattention", "gelu", "linear"])
def test_carried_state_makes_growth_invisible_to_the_old_weights_next_step(layer):
    """With zero new keys, a held scale and the optimizer state carried, the grown model's
    next AdamW step moves every old weight exactly as the ungrown model's would (no
    clipping: the global norm would include the new weights' gradients)."""
    cfg = TrainConfig(steps=5, batch_size=3, lr=0.01, warmup_steps=0, grad_clip=0)
    torch.manual_seed(0)
    old = build(small(layer, 1), layer, "plain")
    opt, x = trained_one_step(old, cfg)
    grown = grow(
        old,
        small(layer, 2),
        new_keys="zero",
        keep_scale=True,
        seed=3,
        build=builder(layer, "plain"),
    )
    grown_opt = make_optimizer(grown, cfg)
    carry_adam_state(old, opt, grown, grown_opt)
    for model, o in ((old, opt), (grown, grown_opt)):
        o.zero_grad()
        model(x, x)[1].backward()
        o.step()
    new = dict(grown.named_parameters())
    for name, p in old.named_parameters():
        q = new[name][tuple(slice(0, n) for n in p.shape)]
        torch.testing.assert_close(q, p, rtol=0, atol=1e-7, msg=name)


def test_carried_state_is_copied_into_the_leading_rows_and_zero_elsewhere():
    cfg = TrainConfig(steps=5, batch_size=3, lr=0.01, warmup_steps=0)
    torch.manual_seed(0)
    old = build(small("pattention", 1), "pattention", "plain")
    opt, _ = trained_one_step(old, cfg)
    grown = grow(old, small("pattention", 2), new_keys="random", keep_scale=False, seed=3)
    grown_opt = make_optimizer(grown, cfg)
    carry_adam_state(old, opt, grown, grown_opt)
    name = "blocks.0.mlp.key"
    p, q = dict(old.named_parameters())[name], dict(grown.named_parameters())[name]
    before, after = opt.state[p], grown_opt.state[q]
    assert after["exp_avg"].shape == q.shape
    torch.testing.assert_close(after["exp_avg"][:8], before["exp_avg"], rtol=0, atol=0)
    assert float(after["exp_avg"][8:].abs().sum()) == 0.0
    assert float(after["exp_avg_sq"][8:].abs().sum()) == 0.0
    assert float(after["step"]) == float(before["step"]) == 1.0
    assert after["step"] is not before["step"]  # a copy: the arms share the first stage


def test_a_fresh_optimizer_has_no_state_to_carry():
    cfg = TrainConfig(steps=5, batch_size=3, lr=0.01, warmup_steps=0)
    old = build(small("linear", 1), "linear", "plain")
    grown = grow(old, small("linear", 2), new_keys="zero", keep_scale=True, seed=3)
    grown_opt = make_optimizer(grown, cfg)
    carry_adam_state(old, make_optimizer(old, cfg), grown, grown_opt)
    assert not grown_opt.state
    assert math.isfinite(float(grown(torch.zeros(1, 6, dtype=torch.long))[0].detach().sum()))
