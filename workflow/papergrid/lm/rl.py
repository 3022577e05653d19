"""Reinforcement learning with verifiable rewards: rollouts, PPO and RLOO.

The reward follows Tülu 3's RLVR (open-instruct's PPO trainer at 816dcbf): every sampled
token earns -beta (log pi - log pi_ref), the KL penalty to the frozen starting model, and
the response's last token adds the verifier's score: ``alpha`` (10) when the answer
verifies, 0 when it does not, ``-alpha`` when the response never emits the end token.

- PPO (Schulman et al. 2017, as in Tülu 3): a separate value model (a copy of the
  starting model with a scalar head; Tülu 3 initialises it from a reward model, which we
  do not have), GAE with gamma 1 and lambda 0.95, advantages whitened over the rollout,
  the clipped ratio objective (0.2), value loss weight 0.1, ``epochs`` gradient steps on
  each rollout. A value head on the policy's own trunk was tried first and did not learn:
  the value loss on returns of size alpha = 10 dominates the clipped gradient.
- RLOO (Ahmadian et al. 2024): ``k`` samples per prompt, each sample's whole-response
  reward minus the mean of the other k - 1 as its advantage, REINFORCE on the response's
  log-probability, one step per rollout. Chosen over GRPO because its leave-one-out
  baseline is unbiased and it does not divide by each prompt's reward spread, which
  reweights prompts by how noisy their rewards are; it needs no value model either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from papergrid.lm.model import GPT
from papergrid.lm.sampling import Samples


class PolicyWithValue(nn.Module):
    """A policy GPT and a value model: a copy of the policy's starting weights with a scalar
    head on its final hidden state (zero-initialised: values start at 0)."""

    def __init__(self, policy: GPT):
        super().__init__()
        self.policy = policy
        self.critic = GPT(policy.cfg)
        self.critic.load_state_dict(policy.state_dict())
        self.value = nn.Linear(policy.cfg.d_model, 1)
        nn.init.zeros_(self.value.weight)
        nn.init.zeros_(self.value.bias)

    @property
    def cfg(self):
        return self.policy.cfg

    def forward(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """(logits (B, T, vocab), values (B, T))."""
        logits, _ = self.policy(idx, attention_mask=attention_mask)
        _, _, h = self.critic(idx, attention_mask=attention_mask, return_hidden=True)
        return logits, self.value(h).squeeze(-1)

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Policy and value model, both trained."""
        return 2 * self.policy.flops_per_token(seq_len) + 6 * self.cfg.d_model


def verifiable_score(verified: bool, finished: bool, alpha: float = 10.0) -> float:
    """Tülu 3's RLVR score: alpha if verified, 0 if not, -alpha without an end token."""
    if not finished:
        return -alpha
    return alpha if verified else 0.0


@dataclass
class Rollout:
    """Sampled responses as right-padded prompt+response sequences, with what training on
    them needs. Target-axis tensors are (B, T - 1): entry j scores token j + 1."""

    ids: torch.Tensor  # (B, T)
    attention: torch.Tensor  # (B, T), 1 on real tokens
    mask: torch.Tensor  # (B, T - 1), 1 on response targets
    old_logp: torch.Tensor  # (B, T - 1), policy log-probs at sampling time
    ref_logp: torch.Tensor  # (B, T - 1), frozen reference log-probs
    score: torch.Tensor  # (B,), the verifier's score
    finished: torch.Tensor  # (B,) bool

    @property
    def kl(self) -> torch.Tensor:
        """Per-response KL estimate sum_t (log pi - log pi_ref) on the sampled tokens."""
        return ((self.old_logp - self.ref_logp) * self.mask).sum(-1)

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1)


def build_rollout(
    prompts: Sequence[Sequence[int]],
    samples: Samples,
    scores: Sequence[float],
    reference: GPT,
    pad_id: int,
    device,
) -> Rollout:
    seqs = [list(p) + list(r) for p, r in zip(prompts, samples.responses, strict=True)]
    width = max(len(s) for s in seqs)
    B = len(seqs)
    ids = torch.full((B, width), pad_id, dtype=torch.long)
    attention = torch.zeros((B, width), dtype=torch.long)
    mask = torch.zeros((B, width - 1))
    old = torch.zeros((B, width - 1))
    for i, (p, r, lp) in enumerate(zip(prompts, samples.responses, samples.logprobs, strict=True)):
        n = len(p) + len(r)
        ids[i, :n] = torch.tensor(seqs[i])
        attention[i, :n] = 1
        mask[i, len(p) - 1 : n - 1] = 1.0
        old[i, len(p) - 1 : n - 1] = torch.tensor(lp)
    ids, attention, mask, old = (t.to(device) for t in (ids, attention, mask, old))
    with torch.no_grad():
        ref = reference.token_logprobs(ids, attention_mask=attention) * mask
    return Rollout(
        ids,
        attention,
        mask,
        old,
        ref,
        torch.tensor(list(scores), dtype=torch.float32, device=device),
        torch.tensor(samples.finished, device=device),
    )


def token_rewards(rollout: Rollout, beta: float) -> torch.Tensor:
    """(B, T - 1): -beta KL per response token, the score added at the last one."""
    rewards = -beta * (rollout.old_logp - rollout.ref_logp) * rollout.mask
    last = (rollout.mask.cumsum(-1) == rollout.mask.sum(-1, keepdim=True)) & (rollout.mask > 0)
    return rewards + last.float() * rollout.score[:, None]


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns over each row's response targets
    (values past the last response token count as 0)."""
    adv = torch.zeros_like(rewards)
    running = torch.zeros(rewards.size(0), device=rewards.device)
    next_value = torch.zeros_like(running)
    for t in reversed(range(rewards.size(1))):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * m
        adv[:, t] = running
        next_value = torch.where(m > 0, values[:, t], torch.zeros_like(next_value))
    return adv, (adv + values) * mask


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    n = mask.sum().clamp_min(1)
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1)


def ppo_loss(
    model: PolicyWithValue,
    rollout: Rollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    clip: float,
    vf_coef: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    logits, values = model(rollout.ids[:, :-1], rollout.attention[:, :-1])
    logp = F.log_softmax(logits.float(), -1).gather(-1, rollout.ids[:, 1:, None]).squeeze(-1)
    ratio = torch.exp(logp - rollout.old_logp)
    pg = -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    pg_loss = masked_mean(pg, rollout.mask)
    vf_loss = 0.5 * masked_mean((values - returns) ** 2, rollout.mask)
    with torch.no_grad():
        clipped = masked_mean(((ratio - 1).abs() > clip).float(), rollout.mask)
        approx_kl = masked_mean(rollout.old_logp - logp, rollout.mask)
    metrics = {"clip_frac": float(clipped), "approx_kl": float(approx_kl)}
    return pg_loss + vf_coef * vf_loss, metrics


def rollout_values(model: PolicyWithValue, rollout: Rollout) -> torch.Tensor:
    with torch.no_grad():
        _, values = model(rollout.ids[:, :-1], rollout.attention[:, :-1])
    return values * rollout.mask


def rloo_advantages(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """Leave-one-out advantages of (n_prompts * k,) rewards grouped by prompt, k per prompt
    in consecutive rows."""
    if k < 2:
        raise ValueError("RLOO needs at least two samples per prompt")
    r = rewards.view(-1, k)
    baseline = (r.sum(-1, keepdim=True) - r) / (k - 1)
    return (r - baseline).reshape(-1)


def rloo_loss(
    policy: GPT, rollout: Rollout, beta: float, k: int
) -> tuple[torch.Tensor, dict[str, float]]:
    logits, _ = policy(rollout.ids[:, :-1], attention_mask=rollout.attention[:, :-1])
    logp = F.log_softmax(logits.float(), -1).gather(-1, rollout.ids[:, 1:, None]).squeeze(-1)
    seq_logp = (logp * rollout.mask).sum(-1)
    rewards = rollout.score - beta * rollout.kl
    adv = rloo_advantages(rewards, k).detach()
    loss = -(adv * seq_logp).sum() / rollout.mask.sum().clamp_min(1)
    return loss, {}


Verifier = Callable[[int, list[int]], bool]  # (prompt index, response tokens) -> correct
