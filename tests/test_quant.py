import pytest
import torch

from papergrid.lm.model import GPT, GPTConfig
from papergrid.precision.quant import (
    QuantLinear,
    fake_quant,
    fake_quant_per_channel,
    fake_quant_per_tensor,
    kv_quantiser,
    quant_linear_factory,
    quantize_weights_rtn,
    reference_quant,
)


@pytest.mark.parametrize("bits", [3, 4, 5, 6, 8])
def test_matches_the_formula_and_has_2_to_the_b_levels_at_most(bits):
    torch.manual_seed(bits)
    w = torch.randn(16, 32)
    q = fake_quant_per_channel(w, bits)
    assert torch.allclose(q, reference_quant(w, bits, axis=0), atol=1e-6)
    assert all(len(torch.unique(row)) <= 2**bits for row in q)
    x = torch.randn(4, 7, 32)
    assert torch.allclose(fake_quant_per_tensor(x, bits), reference_quant(x, bits, None), atol=1e-6)


def test_error_shrinks_with_bits_and_max_is_exact():
    w = torch.randn(64, 64)
    errs = [(fake_quant_per_channel(w, b) - w).abs().mean().item() for b in (3, 4, 6, 8)]
    assert errs == sorted(errs, reverse=True)
    q = fake_quant_per_channel(w, 4)
    idx = w.abs().argmax(dim=1)
    assert torch.allclose(q.gather(1, idx[:, None]), w.gather(1, idx[:, None]), atol=1e-6)


def test_straight_through_gradient():
    w = torch.randn(8, 8, requires_grad=True)
    fake_quant_per_channel(w, 3).sum().backward()
    assert torch.allclose(w.grad, torch.ones_like(w))
    x = torch.randn(5, 8, requires_grad=True)
    (fake_quant_per_tensor(x, 4) * 2).sum().backward()
    assert torch.allclose(x.grad, 2 * torch.ones_like(x))


def test_quant_linear_quantises_weights_and_inputs():
    torch.manual_seed(0)
    layer = QuantLinear(8, 4, w_bits=3, a_bits=4)
    x = torch.randn(2, 8)
    expected = reference_quant(x, 4, None) @ reference_quant(layer.weight, 3, 0).T
    assert torch.allclose(layer(x), expected, atol=1e-5)
    full = QuantLinear(8, 4, None, None)
    full.load_state_dict(layer.state_dict())
    assert torch.allclose(full(x), x @ layer.weight.T, atol=1e-6)


def test_model_hooks_and_rtn_ptq():
    cfg = GPTConfig(vocab_size=10, block_size=8, n_layer=1, d_model=8, n_head=2, d_ff=16)
    torch.manual_seed(0)
    model = GPT(cfg, linear_factory=quant_linear_factory(4, 8), kv_transform=kv_quantiser(4))
    assert all(m.w_bits == 4 for m in model.modules() if isinstance(m, QuantLinear))
    idx = torch.randint(0, 10, (2, 8))
    assert torch.isfinite(model(idx)[0]).all()
    plain = GPT(cfg)
    before = plain.blocks[0].mlp.fc.weight.clone()
    emb = plain.wte.weight.clone()
    quantize_weights_rtn(plain, 3)
    after = plain.blocks[0].mlp.fc.weight
    assert not torch.equal(before, after) and torch.allclose(after, reference_quant(before, 3, 0))
    assert torch.equal(plain.wte.weight, emb)
    with pytest.raises(ValueError, match="bits"):
        fake_quant_per_tensor(torch.ones(2), 1)


def test_quant_linear_takes_float_formats_and_int_names():
    from papergrid.precision.formats import get_format, representable

    torch.manual_seed(0)
    layer = QuantLinear(8, 4, w_bits="e2m1", a_bits="int4")
    assert layer.w_bits == "e2m1" and layer.a_bits == 4
    x = torch.randn(2, 8)
    fmt = get_format("e2m1")
    w = layer.weight.detach()
    scale = fmt.max_value / w.abs().amax(dim=1, keepdim=True)
    wq = fake_quant(w, "e2m1", 0)
    # every quantised weight, rescaled, is one of the format's values
    grid = representable(fmt).float()
    scaled = (wq * scale).flatten()
    assert torch.all(torch.min((scaled[:, None] - grid[None, :]).abs(), dim=1).values < 1e-5)
    expected = reference_quant(x, 4, None) @ wq.T
    assert torch.allclose(layer(x), expected, atol=1e-5)
    kv = kv_quantiser("e4m3")(x)
    assert torch.allclose(kv, fake_quant(x, "e4m3", None))
    assert not torch.equal(kv, x)
