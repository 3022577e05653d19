import math

import pytest
import torch
from torch import nn

from papergrid.lm.model import GPT, LINEAR_ROLES, GPTConfig, default_linear

CFG = GPTConfig(vocab_size=11, block_size=16, n_layer=2, d_model=8, n_head=2, d_ff=20)


def test_non_embedding_param_count_by_hand():
    d, f, L = 8, 20, 2
    per_layer = 2 * 2 * d + 3 * d * d + d * d + d * f + f * d  # 2 LayerNorms, qkv, out, mlp
    expected = L * per_layer + 2 * d  # plus the final LayerNorm
    model = GPT(CFG)
    assert model.num_params() == expected
    assert model.num_params(non_embedding=False) == expected + 11 * d + 16 * d


def test_flops_per_token_formula():
    model = GPT(CFG)
    assert model.flops_per_token(16) == 6 * (model.num_params() + 8 * 11) + 12 * 2 * 8 * 16


def test_every_linear_comes_from_the_factory():
    seen = []

    def factory(d_in, d_out, role):
        seen.append(role)
        return default_linear(d_in, d_out, role)

    GPT(CFG, linear_factory=factory)
    assert sorted(set(seen)) == sorted(LINEAR_ROLES)
    assert len(seen) == 4 * CFG.n_layer


def test_kv_transform_is_applied_to_keys_and_values():
    torch.manual_seed(0)
    idx = torch.randint(0, 11, (2, 5))
    base = GPT(CFG)
    zero_v = GPT(CFG, kv_transform=lambda t: torch.zeros_like(t))
    zero_v.load_state_dict(base.state_dict())
    assert not torch.allclose(base(idx)[0], zero_v(idx)[0])


def test_causal_and_hidden_state():
    torch.manual_seed(1)
    model = GPT(CFG)
    a = torch.randint(0, 11, (1, 8))
    b = a.clone()
    b[0, 5:] = (b[0, 5:] + 1) % 11
    la, lb = model(a)[0], model(b)[0]
    assert torch.allclose(la[:, :5], lb[:, :5], atol=1e-6)
    logits, _, h = model(a, return_hidden=True)
    assert h.shape == (1, 8, 8) and logits.shape == (1, 8, 11)


def test_loss_mask_and_sum_reduction():
    torch.manual_seed(2)
    model = GPT(CFG)
    x, y = torch.randint(0, 11, (2, 6)), torch.randint(0, 11, (2, 6))
    mask = torch.zeros(2, 6)
    mask[:, 3:] = 1
    logits, mean = model(x, y, loss_mask=mask)
    _, total = model(x, y, loss_mask=mask, reduction="sum")
    manual = nn.functional.cross_entropy(logits[:, 3:].reshape(-1, 11), y[:, 3:].reshape(-1))
    assert mean.item() == pytest.approx(manual.item(), rel=1e-5)
    assert total.item() == pytest.approx(manual.item() * 6, rel=1e-5)


def test_token_logprobs_match_the_logits():
    torch.manual_seed(3)
    model = GPT(CFG)
    idx = torch.randint(0, 11, (2, 7))
    lp = model.token_logprobs(idx)
    logits, _ = model(idx[:, :-1])
    manual = torch.log_softmax(logits, -1).gather(-1, idx[:, 1:, None])[..., 0]
    assert lp.shape == (2, 6) and torch.allclose(lp, manual, atol=1e-6)


def test_generation_greedy_topk_and_eos():
    torch.manual_seed(4)
    model = GPT(CFG)
    prompt = torch.randint(0, 11, (3, 4))
    greedy = model.generate(prompt, 5, temperature=0)
    assert greedy.shape == (3, 9) and torch.equal(greedy[:, :4], prompt)
    gen = torch.Generator().manual_seed(0)
    top1 = model.generate(prompt, 5, temperature=1.0, top_k=1, generator=gen)
    assert torch.equal(top1, greedy)
    eos = int(greedy[0, 4])
    stopped = model.generate(prompt[:1], 5, temperature=0, eos_id=eos)
    assert stopped.shape[1] == 5 and int(stopped[0, -1]) == eos


def test_config_rejects_bad_shapes():
    with pytest.raises(ValueError, match="not divisible"):
        GPTConfig(vocab_size=5, block_size=4, n_layer=1, d_model=6, n_head=4, d_ff=4)
    with pytest.raises(ValueError, match="n_layer must be >= 1"):
        GPTConfig(vocab_size=5, block_size=4, n_layer=0, d_model=8, n_head=2, d_ff=4)
    with pytest.raises(ValueError, match="exceeds block_size"):
        GPT(CFG)(torch.zeros(1, 17, dtype=torch.long))


def test_init_scales_residual_projections():
    model = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=8, d_model=64, n_head=4, d_ff=256))
    std = model.blocks[0].mlp.proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(16), rel=0.1)


@pytest.mark.parametrize(
    "shape", [(1, 8, 2, 20), (2, 33, 3, 132), (4, 64, 4, 100), (12, 768, 12, 3072)]
)
def test_config_states_the_same_n_as_the_model(shape):
    n_layer, d, h, f = shape
    cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=n_layer, d_model=d, n_head=h, d_ff=f)
    with torch.device("meta"):
        assert cfg.non_embedding_params == GPT(cfg).num_params()


def test_cached_generation_matches_full_recomputation():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=24, n_layer=2, d_model=16, n_head=2, d_ff=8))
    model.eval()
    prompt = torch.randint(0, 11, (5, 7))
    cached = model.generate(prompt, 12, temperature=0, use_cache=True)
    full = model.generate(prompt, 12, temperature=0, use_cache=False)
    assert torch.equal(cached, full)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    s1 = model.generate(prompt, 12, temperature=1.0, top_k=4, generator=g1, use_cache=True)
    s2 = model.generate(prompt, 12, temperature=1.0, top_k=4, generator=g2, use_cache=False)
    assert torch.equal(s1, s2)
    # the cache cannot slide: generation stops at block_size
    assert model.generate(prompt, 100, temperature=0).size(1) == 24
