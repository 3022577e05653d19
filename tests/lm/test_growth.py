import pytest
import torch

from papergrid.lm.config import GPTConfig
from papergrid.lm.growth import continue_curve, grow, grown_config
from papergrid.lm.model import GPT

BASE = dict(vocab_size=13, block_size=16, n_layer=2, d_model=16, n_head=2)


def trained(cfg: GPTConfig, steps=25) -> GPT:
    """A model moved away from its init, so that growth has something to preserve."""
    torch.manual_seed(0)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, 13, (8, 12))
    for _ in range(steps):
        _, loss = model(x, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def pat(attn=8, ff=32, **kw) -> GPTConfig:
    return GPTConfig(**BASE, d_ff=ff, layer="pattention", attn_tokens=attn, **kw)


X = torch.randint(0, 13, (4, 12), generator=torch.Generator().manual_seed(1))


def loss(model):
    with torch.no_grad():
        return model(X, X)[1].item()


@pytest.mark.parametrize("norm", ["l2_gelu", "gelu_l2", "gelu_l1"])
def test_zero_keys_with_the_scale_held_preserve_the_function(norm):
    small = trained(pat(norm=norm))
    big = grow(small, pat(16, 64, norm=norm), new_keys="zero", keep_scale=True, seed=3)
    with torch.no_grad():
        assert torch.allclose(big(X)[0], small(X)[0], atol=1e-5)
    assert big.num_params() > small.num_params()


def test_a_recomputed_scale_or_random_tokens_change_the_function():
    small = trained(pat())
    for new_keys, keep in (("zero", False), ("random", False), ("random", True)):
        big = grow(small, pat(16, 64), new_keys=new_keys, keep_scale=keep, seed=3)
        with torch.no_grad():
            moved = (big(X)[0] - small(X)[0]).abs().max().item()
        assert moved > 1e-3, (new_keys, keep, moved)


def test_softmax_theta_is_not_preserved_by_zero_keys():
    # exp(0) = 1: a zero key still takes its share of the weights
    small = trained(pat(norm="softmax"))
    big = grow(small, pat(16, 64, norm="softmax"), new_keys="zero", keep_scale=True, seed=3)
    assert abs(loss(big) - loss(small)) > 1e-4


def test_a_plain_feed_forward_block_widened_with_zero_rows_is_preserved():
    small = trained(GPTConfig(**BASE, d_ff=32))
    big = grow(small, GPTConfig(**BASE, d_ff=96), new_keys="zero", keep_scale=True, seed=3)
    with torch.no_grad():
        assert torch.allclose(big(X)[0], small(X)[0], atol=1e-5)
    fc = big.blocks[0].mlp.fc.weight
    assert torch.equal(fc[:32], small.blocks[0].mlp.fc.weight)
    assert torch.count_nonzero(fc[32:]) == 0
    assert torch.count_nonzero(big.blocks[0].mlp.proj.weight[:, 32:]) > 0  # values random


def test_new_keys_get_gradient_after_zero_growth():
    big = grow(trained(pat()), pat(16, 64), new_keys="zero", keep_scale=True, seed=3)
    big.train()
    _, loss_ = big(X, X)
    loss_.backward()
    assert big.blocks[0].mlp.key.grad[32:].abs().sum() > 0


def test_the_old_weights_sit_in_the_leading_rows_and_the_scale_is_as_asked():
    small = trained(pat())
    held = grow(small, pat(16, 64), new_keys="random", keep_scale=True, seed=3)
    new = grow(small, pat(16, 64), new_keys="random", keep_scale=False, seed=3)
    assert torch.equal(held.blocks[1].attn.out.key[:8], small.blocks[1].attn.out.key)
    assert torch.equal(held.blocks[1].mlp.value[:32], small.blocks[1].mlp.value)
    assert float(held.blocks[0].mlp.scale_tokens) == 32.0
    assert float(new.blocks[0].mlp.scale_tokens) == 64.0
    again = grow(small, pat(16, 64), new_keys="random", keep_scale=False, seed=3)
    assert torch.equal(again.blocks[0].mlp.key, new.blocks[0].mlp.key)  # seeded


def test_growth_refuses_other_shape_changes():
    small = trained(pat(), steps=1)
    with pytest.raises(ValueError, match="growth changes only"):
        grow(
            small,
            GPTConfig(**{**BASE, "d_model": 32}, d_ff=32, layer="pattention", attn_tokens=8),
            new_keys="zero",
            keep_scale=True,
            seed=0,
        )
    with pytest.raises(ValueError, match="cannot shrink"):
        grow(small, pat(4, 32), new_keys="zero", keep_scale=True, seed=0)
    with pytest.raises(ValueError, match="new_keys"):
        grow(small, pat(16, 64), new_keys="ones", keep_scale=True, seed=0)
    with pytest.raises(ValueError, match="cannot shrink"):
        grown_config(pat(), d_ff=16)
    assert grown_config(pat(), d_ff=64, attn_tokens=16) == pat(16, 64)


def test_curves_continue_across_stages():
    first = [
        {"step": 0, "tokens": 0, "flops": 0.0, "val_loss": 3.0},
        {"step": 10, "tokens": 100, "flops": 1e3, "val_loss": 2.0},
    ]
    second = [
        {"step": 0, "tokens": 0, "flops": 0.0, "val_loss": 2.0},
        {"step": 5, "tokens": 50, "flops": 2e3, "val_loss": 1.5},
    ]
    rows = continue_curve(continue_curve([], first, 0), second, 1)
    assert [r["step"] for r in rows] == [0, 10, 10, 15]
    assert [r["tokens"] for r in rows] == [0, 100, 100, 150]
    assert [r["flops"] for r in rows] == [0.0, 1e3, 1e3, 3e3]
    assert [r["stage"] for r in rows] == [0, 0, 1, 1]
    assert first[1]["step"] == 10  # inputs untouched


def test_net2net_widening_preserves_a_plain_network_and_breaks_the_symmetry():
    cfg = GPTConfig(**BASE, d_ff=32)
    small = trained(cfg)
    big = grow(small, GPTConfig(**BASE, d_ff=80), new_keys="net2net", keep_scale=True, seed=3)
    assert loss(big) == pytest.approx(loss(small), abs=1e-6)
    fc = big.blocks[0].mlp.fc.weight.detach()
    proj = big.blocks[0].mlp.proj.weight.detach()
    # every new unit copies an old unit's input row; its output column is a share of the
    # old unit's: the shares of each unit's copies sum to the old column
    old_fc = small.blocks[0].mlp.fc.weight.detach()
    old_proj = small.blocks[0].mlp.proj.weight.detach()
    source = [int((old_fc == row).all(dim=1).nonzero()[0]) for row in fc]
    assert source[:32] == list(range(32))
    summed = torch.zeros_like(old_proj).index_add_(1, torch.tensor(source), proj)
    torch.testing.assert_close(summed, old_proj)
    copied = [i for i in range(32) if source.count(i) > 1][0]
    cols = [j for j, s in enumerate(source) if s == copied]
    assert not torch.allclose(proj[:, cols[0]], proj[:, cols[1]])  # unequal shares


def test_net2net_refuses_parameter_attention():
    with pytest.raises(ValueError, match="standard feed-forward blocks only"):
        grow(trained(pat()), pat(16, 64), new_keys="net2net", keep_scale=True, seed=3)
