import math

import pytest
import torch

from papergrid.lpo.head import (
    PairFeatures,
    TemperatureHead,
    chosen_logp,
    head_logps,
    lpo_loss,
    lpo_marginal_loss,
    marginal_logp,
    nll_loss,
    pair_loss,
    token_logps_by_temperature,
    uniform_reference,
)


def test_lpo_loss_by_hand():
    c, r, zero = torch.tensor([math.log(0.6)]), torch.tensor([math.log(0.2)]), torch.zeros(1)
    # -log sigmoid(log 0.6 - log 0.2) = -log(3 / 4)
    assert lpo_loss(c, r, zero, zero, 1.0).item() == pytest.approx(math.log(4 / 3))
    # beta scales the log-ratio: -log sigmoid(2 log 3) = log(1 + 1/9)
    assert lpo_loss(c, r, zero, zero, 2.0).item() == pytest.approx(math.log(10 / 9))
    # a reference that gives the chosen side 3x the rejected one's probability cancels it
    ref_c = torch.tensor([math.log(3.0)])
    assert lpo_loss(c, r, ref_c, zero, 1.0).item() == pytest.approx(math.log(2.0))


def test_the_uniform_reference_adds_the_length_difference_for_per_token_heads():
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    tok = uniform_reference(mask, 6, "tok")
    assert tok.tolist() == pytest.approx([-3 * math.log(6), -math.log(6)])
    # one temperature a response: the same term on both sides, which cancels
    assert uniform_reference(mask, 6, "seq").tolist() == pytest.approx([-math.log(6)] * 2)


def test_marginal_loss_by_hand():
    # beta [(m_c - ref_c) - (m_r - ref_r)] = 2 [(-1 + 1.5) - (-2 + 1.5)] = 2
    got = lpo_marginal_loss(
        torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.5]), torch.tensor([-1.5]), 2.0
    )
    assert got.item() == pytest.approx(-math.log(1 / (1 + math.exp(-2))))


def test_nll_loss_by_hand():
    assert nll_loss(torch.tensor([math.log(0.6)])).item() == pytest.approx(-math.log(0.6))


def test_token_logps_by_temperature_by_hand():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    lp = token_logps_by_temperature(logits, torch.tensor([1]), [0.0, 0.5, 1.0])[0]
    assert lp[0].item() == -math.inf  # greedy never emits a non-argmax token
    assert lp[1].item() == pytest.approx(2 - math.log(math.exp(4) + math.exp(2) + 1))
    assert lp[2].item() == pytest.approx(1 - math.log(math.exp(2) + math.exp(1) + 1))
    greedy = token_logps_by_temperature(logits, torch.tensor([0]), [0.0])[0]
    assert greedy.item() == 0.0


def test_marginal_logp_mixes_per_token_or_per_response():
    # two tokens, temperatures (0, 1); P(tau) = (0.25, 0.75) everywhere
    head = torch.log(torch.tensor([[[0.25, 0.75], [0.25, 0.75]]]))
    p1 = (0.5, 0.2)  # P(y_t | tau = 1); both tokens are the argmax (P = 1 at tau 0)
    tok = torch.log(torch.tensor([[[1.0, p1[0]], [1.0, p1[1]]]]))
    mask = torch.ones(1, 2)
    per_token = math.log(0.25 + 0.75 * p1[0]) + math.log(0.25 + 0.75 * p1[1])
    assert marginal_logp(head, tok, mask, "tok").item() == pytest.approx(per_token)
    whole = math.log(0.25 * 1.0 + 0.75 * p1[0] * p1[1])
    assert marginal_logp(head, tok, mask, "seq").item() == pytest.approx(whole)
    # a masked token does not count
    assert marginal_logp(head, tok, torch.tensor([[1.0, 0.0]]), "tok").item() == pytest.approx(
        math.log(0.25 + 0.75 * p1[0])
    )


def test_seq_heads_read_the_state_after_the_prompt_only():
    torch.manual_seed(0)
    head = TemperatureHead(4, 8, 3)
    h = torch.randn(2, 5, 4)
    lp = head_logps(head, h, "seq")
    assert torch.allclose(lp, head(h[:, :1]).expand(-1, 5, -1))
    tau = torch.tensor([[2, 2, 2, 2, 2], [0, 1, 2, 0, 0]])
    mask = torch.tensor([[1.0, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert torch.allclose(chosen_logp(lp, tau, mask, "seq"), lp[:, 0].gather(1, tau[:, :1])[:, 0])
    per_tok = head_logps(head, h, "tok")
    want = (per_tok.gather(-1, tau[..., None])[..., 0] * mask).sum(-1)
    assert torch.allclose(chosen_logp(per_tok, tau, mask, "tok"), want)


def two_clusters(n=64, K=3, T=4):
    """Pairs from two kinds of state: kind A prefers temperature 0, kind B the last one."""
    g = torch.Generator().manual_seed(0)
    kind = torch.arange(n) % 2
    base = torch.where(kind[:, None] == 0, torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0]))
    h = base[:, None, :] + 0.1 * torch.randn(n, T, 2, generator=g)
    low, high = torch.zeros(n, T, dtype=torch.long), torch.full((n, T), K - 1)
    tau_c = torch.where(kind[:, None] == 0, low, high)
    tau_r = torch.where(kind[:, None] == 0, high, low)
    lp = torch.full((n, T, K), -1.0)
    mask = torch.ones(n, T)
    fam = ["a" if k == 0 else "b" for k in kind.tolist()]
    return PairFeatures(fam, h, h.clone(), tau_c, tau_r, lp, lp.clone(), mask, mask.clone())


@pytest.mark.parametrize("variant", ["seq", "tok"])
@pytest.mark.parametrize("loss", ["lpo", "nll"])
def test_a_head_learns_which_states_want_which_temperature(variant, loss):
    torch.manual_seed(0)
    f = two_clusters()
    head = TemperatureHead(2, 16, 3)
    opt = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        value, _ = pair_loss(head, f, loss, variant, 1.0)
        value.backward()
        opt.step()
    _, prefers = pair_loss(head, f, loss, variant, 1.0)
    assert prefers.item() == 1.0
    pick = head(f.hidden_c[:, 0]).argmax(-1)
    assert pick[0].item() == 0 and pick[1].item() == 2


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown loss"):
        pair_loss(TemperatureHead(2, 4, 3), two_clusters(), "dpo", "seq", 1.0)


def test_no_pairs_give_empty_features():
    from papergrid.lm.model import GPT, GPTConfig
    from papergrid.lpo.head import response_features

    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, d_model=4, n_head=1, d_ff=8))
    h, lp, mask = response_features(model, [], [], 0, [0.0, 1.0], 6)
    assert h.shape == (0, 6, 4) and lp.shape == (0, 6, 2) and mask.shape == (0, 6)
