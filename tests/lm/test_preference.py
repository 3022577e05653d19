import math

import pytest
import torch

from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.preference import (
    PairLogps,
    dpo,
    dpo_norm,
    pair_logps,
    preference_loss,
    simpo,
    wpo,
)


def softplus(x):
    return math.log1p(math.exp(-x))  # -log sigmoid(x)


POLICY = PairLogps(
    chosen=torch.tensor([-2.0, -6.0]),
    rejected=torch.tensor([-5.0, -4.0]),
    chosen_len=torch.tensor([2.0, 3.0]),
    rejected_len=torch.tensor([5.0, 2.0]),
    chosen_aligned=torch.tensor([-0.5, -1.0]),
    rejected_aligned=torch.tensor([-0.2, -2.0]),
)
REF = PairLogps(
    chosen=torch.tensor([-3.0, -5.0]),
    rejected=torch.tensor([-4.0, -4.5]),
    chosen_len=torch.tensor([2.0, 3.0]),
    rejected_len=torch.tensor([5.0, 2.0]),
)


def test_dpo_by_hand():
    loss, margin = dpo(POLICY, REF, 0.1)
    # pair 0: ((-2 + 3) - (-5 + 4)) = 2; pair 1: ((-6 + 5) - (-4 + 4.5)) = -1.5
    assert margin.tolist() == pytest.approx([0.2, -0.15])
    assert loss.tolist() == pytest.approx([softplus(0.2), softplus(-0.15)])


def test_dpo_norm_divides_each_log_ratio_by_its_length():
    loss, margin = dpo_norm(POLICY, REF, 5.0)
    # pair 0: 1/2 - (-1)/5 = 0.7; pair 1: -1/3 - 0.5/2 = -0.58333
    assert margin.tolist() == pytest.approx([3.5, 5 * (-1 / 3 - 0.25)])
    assert loss[0].item() == pytest.approx(softplus(3.5))


def test_simpo_needs_no_reference_and_subtracts_the_margin():
    loss, margin = simpo(POLICY, 2.0, 0.5)
    # pair 0: 2 * (-1 - (-1)) - 1 = -1; pair 1: 2 * (-2 - (-2)) - 1 = -1
    assert margin.tolist() == pytest.approx([-1.0, -1.0])
    assert loss.tolist() == pytest.approx([softplus(-1.0)] * 2)
    assert preference_loss("simpo", POLICY, None, 2.0, 0.5)[0].tolist() == loss.tolist()


def test_wpo_weights_each_pair_by_the_policys_aligned_probability_without_gradient():
    p = PairLogps(
        **{
            k: (v.clone().requires_grad_(True) if v is not None else None)
            for k, v in vars(POLICY).items()
        }
    )
    loss, _ = wpo(p, REF, 0.1)
    base, _ = dpo(POLICY, REF, 0.1)
    weights = [math.exp(-0.7), math.exp(-3.0)]
    assert loss.tolist() == pytest.approx(
        [w * b for w, b in zip(weights, base.tolist(), strict=True)]
    )
    loss.sum().backward()
    assert p.chosen_aligned.grad is None  # the weight is detached
    assert p.chosen.grad is not None


def test_unknown_losses_and_missing_references_are_refused():
    with pytest.raises(ValueError, match="unknown preference loss 'ipo'"):
        preference_loss("ipo", POLICY, REF, 0.1)
    with pytest.raises(ValueError, match="needs the reference"):
        preference_loss("dpo", POLICY, None, 0.1)


def test_pair_logps_match_token_logprobs_and_align_to_one_on_a_peaked_policy():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=10, block_size=16, n_layer=1, d_model=8, n_head=2, d_ff=16))
    pairs = [([2, 3], [4, 5, 1], [6, 1]), ([7], [8, 1], [9, 9, 9, 1])]
    got = pair_logps(m, pairs, 0, "cpu", aligned=True)
    for i, (p, c, r) in enumerate(pairs):
        for seq, want, n in (
            (c, got.chosen[i], got.chosen_len[i]),
            (r, got.rejected[i], got.rejected_len[i]),
        ):
            lp = m.token_logprobs(torch.tensor([p + seq]))[0, len(p) - 1 :]
            assert want.item() == pytest.approx(lp.sum().item(), abs=1e-5)
            assert n.item() == len(seq)
    # a uniform policy: p = 1/V for every token, sum p^2 = 1/V, so the aligned mean is 0
    with torch.no_grad():
        for prm in m.parameters():
            prm.zero_()
    flat = pair_logps(m, pairs, 0, "cpu", aligned=True)
    assert torch.allclose(flat.chosen_aligned, torch.zeros(2), atol=1e-6)
