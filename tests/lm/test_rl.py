import pytest
import torch

from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.rl import (
    PolicyWithValue,
    build_rollout,
    gae,
    ppo_loss,
    rloo_advantages,
    token_rewards,
    verifiable_score,
    whiten,
)
from papergrid.lm.sampling import generator_for, sample

CFG = GPTConfig(vocab_size=10, block_size=20, n_layer=1, d_model=8, n_head=2, d_ff=16)


def test_tulu_score():
    assert verifiable_score(True, True) == 10 and verifiable_score(False, True) == 0
    assert verifiable_score(True, False) == -10


def test_gae_by_hand():
    # one row, three response targets after one prompt target; gamma 1, lambda 0.5
    rewards = torch.tensor([[0.0, 1.0, 0.0, 2.0]])
    values = torch.tensor([[9.0, 0.5, 0.25, 1.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    adv, ret = gae(rewards, values, mask, 1.0, 0.5)
    d3 = 2.0 - 1.0  # last: no next value
    d2 = 0.0 + 1.0 - 0.25
    d1 = 1.0 + 0.25 - 0.5
    a3, a2 = d3, d2 + 0.5 * d3
    a1 = d1 + 0.5 * a2
    assert adv.tolist()[0] == pytest.approx([0.0, a1, a2, a3])
    assert ret.tolist()[0] == pytest.approx([0.0, a1 + 0.5, a2 + 0.25, a3 + 1.0])
    w = whiten(adv, mask)
    assert (w * mask).sum().item() == pytest.approx(0.0, abs=1e-6) and w[0, 0] == 0


def test_rloo_leaves_each_sample_out_of_its_baseline():
    r = torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 3.0])
    assert rloo_advantages(r, 3).tolist() == pytest.approx([-3.0, -1.5, 4.5, -1.5, -1.5, 3.0])
    with pytest.raises(ValueError, match="two samples"):
        rloo_advantages(r, 1)


def rollout(beta=0.1):
    torch.manual_seed(0)
    policy = GPT(CFG)
    ref = GPT(CFG)
    ref.load_state_dict(policy.state_dict())
    prompts = [[2, 3, 4], [5], [6, 7]]
    s = sample(policy, prompts, max_new=4, eos_id=1, pad_id=0, generator=generator_for(0, 0))
    scores = [verifiable_score(i == 0, f) for i, f in enumerate(s.finished)]
    return policy, build_rollout(prompts, s, scores, ref, 0, "cpu"), s, scores


def test_rollout_aligns_tokens_log_probs_and_rewards():
    policy, ro, s, scores = rollout()
    assert torch.allclose(ro.kl, torch.zeros(3), atol=1e-5)  # the policy is the reference
    assert ro.lengths.tolist() == [len(r) for r in s.responses]
    rw = token_rewards(ro, 0.1)
    assert rw.sum(-1).tolist() == pytest.approx(scores, abs=1e-5)
    for i in range(len(s.responses)):
        n = int(ro.attention[i].sum())
        lp = policy.token_logprobs(ro.ids[i : i + 1, :n])[0]
        mask = ro.mask[i, : n - 1]
        assert torch.allclose((lp * mask).sum(), ro.old_logp[i].sum(), atol=1e-5)


def test_ppo_starts_from_ratio_one_and_its_value_head_from_zero():
    policy, ro, _, _ = rollout()
    model = PolicyWithValue(policy)
    adv = whiten(torch.randn_like(ro.old_logp) * ro.mask, ro.mask)
    loss, metrics = ppo_loss(model, ro, adv, torch.zeros_like(adv), 0.2, 0.1)
    assert metrics["clip_frac"] == 0 and abs(metrics["approx_kl"]) < 1e-5
    loss.backward()
    assert policy.wte.weight.grad is not None and model.critic.wte.weight.grad is not None
    # the policy and the value model are separate parameters
    assert model.critic.wte.weight.data_ptr() != policy.wte.weight.data_ptr()
