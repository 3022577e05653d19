"""Pairwise preference losses on response log-probabilities (Tülu 3's DPO variants).

Every loss takes, per pair, the policy's summed token log-probabilities of the chosen and
the rejected response with their token counts (:class:`PairLogps`) and, where it uses one,
the frozen reference model's (computed once and cached: :func:`pair_logps` on the pairs
before training). It returns the loss per pair and the preference margin (the argument of
the sigmoid, for logging). With s = summed log-probability, n = tokens:

- ``dpo`` (Rafailov et al. 2023): -log sigmoid(beta [(s_c - s_c_ref) - (s_r - s_r_ref)]).
- ``dpo_norm`` (Tülu 3, Eq. 6): the same with every log-probability divided by its
  response's length, -log sigmoid(beta [(s_c - s_c_ref)/n_c - (s_r - s_r_ref)/n_r]);
  per-token, hence the large beta (5 in Tülu 3).
- ``simpo`` (Meng et al. 2024): no reference model, length-normalised, with a target
  margin gamma = beta * gamma_beta_ratio: -log sigmoid(beta (s_c/n_c - s_r/n_r) - gamma).
- ``wpo`` (Zhou et al. 2024, arXiv 2406.11827): the dpo loss of each pair weighted by
  w(y_c) w(y_r), w(y) = exp((1/n) sum_t [log p(y_t) - log sum_v p(v)^2]) under the current
  policy, detached: the length-normalised probability of the response relative to what
  the policy's own sampling gives ("sampled alignment"), so that a pair the policy would
  itself produce weighs about 1 and off-policy pairs less. Tülu 3's public code averages
  already-summed log-probabilities and leaves the weight attached; this follows the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("dpo", "dpo_norm", "simpo", "wpo")


@dataclass
class PairLogps:
    """Per-pair response log-probabilities (B,) under one model."""

    chosen: torch.Tensor  # summed over the chosen response's tokens
    rejected: torch.Tensor
    chosen_len: torch.Tensor  # tokens in the chosen response
    rejected_len: torch.Tensor
    # mean over tokens of log p(y_t) - log sum_v p(v)^2, for WPO's weight (policy only)
    chosen_aligned: torch.Tensor | None = None
    rejected_aligned: torch.Tensor | None = None


def dpo(policy: PairLogps, ref: PairLogps, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    margin = beta * ((policy.chosen - ref.chosen) - (policy.rejected - ref.rejected))
    return -F.logsigmoid(margin), margin


def dpo_norm(policy: PairLogps, ref: PairLogps, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    chosen = (policy.chosen - ref.chosen) / policy.chosen_len
    rejected = (policy.rejected - ref.rejected) / policy.rejected_len
    margin = beta * (chosen - rejected)
    return -F.logsigmoid(margin), margin


def simpo(
    policy: PairLogps, beta: float, gamma_beta_ratio: float
) -> tuple[torch.Tensor, torch.Tensor]:
    margin = (
        beta * (policy.chosen / policy.chosen_len - policy.rejected / policy.rejected_len)
        - beta * gamma_beta_ratio
    )
    return -F.logsigmoid(margin), margin


def wpo_weight(policy: PairLogps) -> torch.Tensor:
    if policy.chosen_aligned is None or policy.rejected_aligned is None:
        raise ValueError(
            "wpo needs the aligned per-token log-probabilities (pair_logps(..., aligned=True))"
        )
    return torch.exp(policy.chosen_aligned + policy.rejected_aligned).detach()


def wpo(policy: PairLogps, ref: PairLogps, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    loss, margin = dpo(policy, ref, beta)
    return wpo_weight(policy) * loss, margin


def preference_loss(
    name: str, policy: PairLogps, ref: PairLogps | None, beta: float, gamma_beta_ratio: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss per pair, margin) of the named loss."""
    if name not in LOSSES:
        raise ValueError(f"unknown preference loss {name!r}; allowed: {list(LOSSES)}")
    if name == "simpo":
        return simpo(policy, beta, gamma_beta_ratio)
    if ref is None:
        raise ValueError(f"{name} needs the reference model's log-probabilities")
    fn: Callable = {"dpo": dpo, "dpo_norm": dpo_norm, "wpo": wpo}[name]
    return fn(policy, ref, beta)


def uses_reference(name: str) -> bool:
    return name != "simpo"


def response_logps(
    model, seqs: torch.Tensor, mask: torch.Tensor, attention: torch.Tensor, aligned: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per sequence: summed log-probability of the tokens ``mask`` marks (B, T - 1, over
    targets), their count, and WPO's aligned mean when asked."""
    logits, _ = model(seqs[:, :-1], attention_mask=attention[:, :-1])
    logp_all = F.log_softmax(logits.float(), dim=-1)
    logp = logp_all.gather(-1, seqs[:, 1:].unsqueeze(-1)).squeeze(-1)
    m = mask.to(logp.dtype)
    total, count = (logp * m).sum(-1), m.sum(-1).clamp_min(1)
    if not aligned:
        return total, count, None
    self_prob = torch.logsumexp(2 * logp_all, dim=-1)  # log sum_v p(v)^2
    return total, count, ((logp - self_prob) * m).sum(-1) / count


def stack_pairs(
    pairs: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prompt, chosen, rejected) token lists -> right-padded sequences (2B, T): chosen rows
    first, then rejected; the target mask of response tokens (2B, T - 1); the attention
    mask (2B, T)."""
    seqs = [list(p) + list(c) for p, c, _ in pairs] + [list(p) + list(r) for p, _, r in pairs]
    starts = [len(p) for p, _, _ in pairs] * 2
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width - 1))
    for i, (s, start) in enumerate(zip(seqs, starts, strict=True)):
        ids[i, : len(s)] = torch.tensor(s)
        attention[i, : len(s)] = 1
        mask[i, start - 1 : len(s) - 1] = 1.0  # targets from the first response token on
    return ids, mask, attention


def pair_logps(model, pairs, pad_id: int, device, aligned: bool = False) -> PairLogps:
    """One forward pass over a batch of pairs (chosen and rejected stacked)."""
    ids, mask, attention = (t.to(device) for t in stack_pairs(pairs, pad_id))
    total, count, al = response_logps(model, ids, mask, attention, aligned)
    b = len(pairs)
    return PairLogps(
        total[:b],
        total[b:],
        count[:b],
        count[b:],
        None if al is None else al[:b],
        None if al is None else al[b:],
    )
