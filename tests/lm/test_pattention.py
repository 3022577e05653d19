import math

import pytest
import torch

from papergrid.lm.config import NORMS, GPTConfig
from papergrid.lm.model import GPT
from papergrid.lm.pattention import Pattention, mlp_form, theta


def layer(n=24, d_in=12, d_out=10, norm="l2_gelu", seed=0) -> Pattention:
    torch.manual_seed(seed)
    p = Pattention(d_in, d_out, n, norm)
    with torch.no_grad():  # weights of a trained size, not the tiny init
        p.key.normal_()
        p.value.normal_()
    return p


def test_parameter_attention_is_the_critique_mlp_with_shared_weights():
    p = layer()
    x = torch.randn(4, 7, 12, dtype=torch.float64)
    p = p.double()
    got = p(x)
    want = mlp_form(x, p.key, p.value)
    assert torch.allclose(got, want, atol=1e-6, rtol=0)
    # and a hand-written Eq 16: GeLU(sqrt(n) a / ||a||) V
    a = x @ p.key.t()
    eq16 = torch.nn.functional.gelu(math.sqrt(24) * a / a.norm(dim=-1, keepdim=True)) @ p.value
    assert torch.allclose(got, eq16, atol=1e-12)


@pytest.mark.parametrize("c", [1e-3, 0.5, 7.0, 1e4])
def test_default_theta_is_invariant_to_the_scale_of_its_input(c):
    p = layer().double()
    x = torch.randn(3, 5, 12, dtype=torch.float64)
    assert torch.allclose(p(c * x), p(x), atol=1e-6, rtol=0)


def test_the_gelu_first_forms_are_not_scale_invariant():
    p = layer(norm="gelu_l2").double()
    x = torch.randn(3, 5, 12, dtype=torch.float64)
    assert not torch.allclose(p(0.01 * x), p(x), atol=1e-3)


def test_each_theta_matches_its_definition():
    a = torch.tensor([[0.5, -1.0, 2.0, 0.0]], dtype=torch.float64)
    gelu = torch.nn.functional.gelu
    g = gelu(a)
    want = {
        "l2_gelu": gelu(a / a.norm() * 2.0),
        "gelu_l2": g / g.norm() * 2.0,
        "gelu_l1": g / g.abs().sum() * 4.0,
        "softmax": torch.softmax(a, -1) * 4.0,
    }
    assert set(want) == set(NORMS)
    for norm, w in want.items():
        assert torch.allclose(theta(a, norm, 4.0), w), norm


def test_an_unknown_theta_is_refused_by_name():
    with pytest.raises(ValueError, match="norm must be one of"):
        Pattention(4, 4, 4, "relu")
    with pytest.raises(ValueError, match="GPTConfig.norm"):
        GPTConfig(5, 8, 1, 8, 2, 8, layer="pattention", attn_tokens=4, norm="relu")


def pattention_cfg(**kw) -> GPTConfig:
    base = dict(vocab_size=11, block_size=16, n_layer=2, d_model=16, n_head=2, d_ff=32)
    return GPTConfig(**{**base, "layer": "pattention", "attn_tokens": 8, **kw})


@pytest.mark.parametrize("attn,ff", [(8, 32), (3, 5), (16, 64)])
def test_the_planned_n_is_the_model_n(attn, ff):
    cfg = pattention_cfg(attn_tokens=attn, d_ff=ff)
    assert cfg.non_embedding_params == GPT(cfg).num_params()


def test_half_d_model_tokens_match_the_standard_transformer_exactly():
    cfg = pattention_cfg(attn_tokens=8)
    std = GPTConfig(vocab_size=11, block_size=16, n_layer=2, d_model=16, n_head=2, d_ff=32)
    assert cfg.non_embedding_params == std.non_embedding_params


def test_q_k_v_and_output_are_separate_parameter_attentions():
    model = GPT(pattention_cfg())
    names = {n for n, _ in model.named_parameters()}
    for part in ("qkv.parts.q", "qkv.parts.k", "qkv.parts.v", "out"):
        assert f"blocks.0.attn.{part}.key" in names
        assert f"blocks.0.attn.{part}.value" in names
    assert "blocks.0.mlp.key" in names and "blocks.0.mlp.value" in names
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())


def test_the_config_reaches_the_provenance_and_a_saved_model_reloads(tmp_path):
    from papergrid.lm.jobs import load_model

    cfg = pattention_cfg(norm="softmax")
    assert cfg.to_dict()["layer"] == "pattention" and cfg.to_dict()["norm"] == "softmax"
    std = GPTConfig(vocab_size=11, block_size=16, n_layer=2, d_model=16, n_head=2, d_ff=32)
    assert "layer" not in std.to_dict()  # a standard model's dict (and hashes) as before
    model = GPT(cfg)
    model.blocks[0].mlp.scale_tokens.fill_(5.0)  # a grown model's held scale
    path = tmp_path / "m.pt"
    torch.save({"model": model.state_dict(), "config": cfg.to_dict()}, path)
    again = load_model(str(path), "cpu")
    x = torch.randint(0, 11, (2, 9))
    assert float(again.blocks[0].mlp.scale_tokens) == 5.0
    assert torch.equal(again(x)[0], model(x)[0])


def test_pattention_trains_and_generates_like_the_standard_model():
    torch.manual_seed(0)
    model = GPT(pattention_cfg())
    x = torch.randint(0, 11, (4, 12))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        _, loss = model(x, x)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.5
    out = model.generate(x[:, :3], 5, temperature=0)
    assert out.shape == (4, 8)


def test_a_linear_factory_is_refused_for_parameter_attention():
    from papergrid.lm.model import default_linear

    def factory(d_in, d_out, role):
        return default_linear(d_in, d_out, role)

    with pytest.raises(ValueError, match="layer 'linear' only"):
        GPT(pattention_cfg(), linear_factory=factory)
