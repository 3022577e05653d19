import io
import math

import numpy as np
import pytest
import torch

from papergrid.lm.batches import Batch, PairBatches
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.stacked import (
    check_stackable,
    clip_per_seed,
    stack_batches,
    stack_params,
    stacked_loss,
    train_stacked,
)
from papergrid.lm.trainer import TrainConfig, train

CFG = GPTConfig(vocab_size=13, block_size=24, n_layer=2, d_model=16, n_head=4, d_ff=24)
CPU = torch.device("cpu")


def models(n: int, cfg: GPTConfig = CFG) -> list[GPT]:
    out = []
    for s in range(n):
        torch.manual_seed(100 + s)
        out.append(GPT(cfg))
    return out


def pair_streams(n: int, batch_size: int = 6) -> list[PairBatches]:
    """Prompt/response pairs of varied lengths: each seed's batches pad differently."""
    rng = np.random.default_rng(0)
    pairs = [
        (
            rng.integers(1, 13, rng.integers(2, 6)).tolist(),
            rng.integers(1, 13, rng.integers(1, 12)).tolist(),
        )
        for _ in range(40)
    ]
    return [PairBatches(pairs, batch_size, seed=s, pad_id=0) for s in range(n)]


def val_batch() -> Batch:
    g = torch.Generator().manual_seed(7)
    x = torch.randint(0, 13, (4, 10), generator=g)
    return Batch(x[:, :-1], x[:, 1:], None)


def evaluate(model: GPT) -> dict[str, float]:
    b = val_batch()
    return {"val_loss": model(b.x, b.y)[1].item()}


def test_stacked_loss_is_each_models_own_loss_on_its_own_batch():
    ms = models(3)
    streams = pair_streams(3)
    batches = [s.get(0) for s in streams]
    assert len({b.x.size(1) for b in batches}) > 1  # the padding is exercised
    for reduction in ("mean", "sum"):
        loss, counted = stacked_loss(stack_params(ms), CFG, stack_batches(batches), reduction)
        for s, (m, b) in enumerate(zip(ms, batches, strict=True)):
            own = m(b.x, b.y, loss_mask=b.mask, reduction=reduction)[1]
            assert loss[s].item() == pytest.approx(own.item(), rel=1e-5)
            assert counted[s].item() == b.mask.sum().item()


def test_gradients_and_clipping_are_per_seed():
    ms = models(2)
    batches = [s.get(3) for s in pair_streams(2)]
    params = stack_params(ms)
    loss, _ = stacked_loss(params, CFG, stack_batches(batches))
    loss.sum().backward()
    norms = clip_per_seed(params, 0.05)
    for s, (m, b) in enumerate(zip(ms, batches, strict=True)):
        m(b.x, b.y, loss_mask=b.mask)[1].backward()
        own = torch.nn.utils.clip_grad_norm_(m.parameters(), 0.05)
        assert norms[s].item() == pytest.approx(own.item(), rel=1e-4)
        for name, p in m.named_parameters():
            torch.testing.assert_close(params[name].grad[s], p.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("reduction,accum", [("mean", 1), ("mean", 2), ("sum", 2)])
def test_train_stacked_equals_separate_runs(reduction, accum):
    cfg = TrainConfig(
        steps=8, batch_size=6, lr=3e-3, warmup_steps=2, eval_every=4,
        loss_reduction=reduction, grad_accum=accum, grad_clip=0.5,
    )  # fmt: skip
    stacked, single = models(3), models(3)
    got = train_stacked(stacked, cfg, pair_streams(3), evaluate, CPU)
    for s, m in enumerate(single):
        want = train(m, cfg, pair_streams(3)[s], evaluate, CPU, progress=io.StringIO())
        assert got[s].status == want.status == "ok"
        assert got[s].tokens == want.tokens and got[s].flops == pytest.approx(want.flops)
        assert [r["step"] for r in got[s].curve] == [r["step"] for r in want.curve]
        for a, b in zip(got[s].curve, want.curve, strict=True):
            assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
            if not math.isnan(b["train_loss"]):
                assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        for (name, p), q in zip(stacked[s].named_parameters(), m.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)


def test_train_stacked_is_exactly_reproducible():
    cfg = TrainConfig(steps=5, batch_size=6, lr=3e-3, warmup_steps=1, eval_every=5)
    a, b = models(2), models(2)
    ra = train_stacked(a, cfg, pair_streams(2), evaluate, CPU)
    rb = train_stacked(b, cfg, pair_streams(2), evaluate, CPU)
    assert [r.curve for r in ra] == [r.curve for r in rb]
    for ma, mb in zip(a, b, strict=True):
        for p, q in zip(ma.parameters(), mb.parameters(), strict=True):
            assert torch.equal(p, q)


def test_a_diverged_seed_stops_and_the_others_train_on():
    cfg = TrainConfig(steps=4, batch_size=6, lr=3e-3, warmup_steps=1, eval_every=2)
    ms, ref = models(2), models(2)
    with torch.no_grad():
        ms[1].blocks[0].mlp.fc.weight[0, 0] = math.nan
    nan_weights = [p.detach().clone() for p in ms[1].parameters()]
    got = train_stacked(ms, cfg, pair_streams(2), evaluate, CPU)
    assert got[1].status == "diverged" and got[1].steps_run == 1
    assert math.isnan(got[1].curve[-1]["train_loss"])
    for p, q in zip(ms[1].parameters(), nan_weights, strict=True):
        assert torch.equal(torch.nan_to_num(p, 9.0), torch.nan_to_num(q, 9.0))
    want = train(ref[0], cfg, pair_streams(2)[0], evaluate, CPU, progress=io.StringIO())
    assert got[0].status == "ok"
    assert got[0].final["val_loss"] == pytest.approx(want.final["val_loss"], rel=1e-4)


def test_only_standard_models_of_one_shape_stack():
    check_stackable(models(2))
    other = GPTConfig(vocab_size=13, block_size=24, n_layer=1, d_model=16, n_head=4, d_ff=24)
    with pytest.raises(ValueError, match="one shape"):
        check_stackable([GPT(CFG), GPT(other)])
    tf = GPTConfig(
        vocab_size=13, block_size=24, n_layer=1, d_model=16, n_head=4, d_ff=8,
        layer="pattention", attn_tokens=16,
    )  # fmt: skip
    with pytest.raises(ValueError, match="pattention"):
        check_stackable([GPT(tf)])
    with pytest.raises(ValueError, match="KV transform"):
        check_stackable([GPT(CFG, kv_transform=lambda t: t)])
    with pytest.raises(ValueError, match="checkpoint"):
        train_stacked(models(1), TrainConfig(steps=1, batch_size=2, lr=1e-3, warmup_steps=0,
                      checkpoint_every=1), pair_streams(1), evaluate, CPU)  # fmt: skip
