"""The temperature head and its losses (LPO, Dhuliawala et al. 2024, arXiv 2411.09661).

A 3-layer MLP on the frozen model's last hidden state gives a distribution over the
temperature set. ``seq`` heads read the state after the prompt and pick one temperature
for the whole response; ``tok`` heads read the state before every token and pick one per
token (temperature 0 decodes greedily).

Losses over a preference pair, with log P(tau) the head's log-probability of the
temperatures a response was sampled at (one term for ``seq``, summed over tokens for
``tok``):

- ``lpo`` ("temperatures as tokens", the first form of the transcription in papers.md):
  -log sigmoid(beta [log P(tau_c)/P_ref(tau_c) - log P(tau_r)/P_ref(tau_r)]). With the
  language model frozen its text terms cancel; the reference head's terms do not. The
  reference is uniform over the K temperatures (the distribution the data were sampled
  from), so for ``seq`` they cancel too (one term a side), and for ``tok`` they add
  (|y_c| - |y_r|) log K: without them (the "temperature-only" form) a pair's weight
  would depend on its length difference.
- ``lpo_marginal``: the response's likelihood with the temperature marginalised out,
  P(y) = sum_tau P(tau) P(y | tau), against a reference head that is uniform over the set
  (the distribution the data were sampled from):
  -log sigmoid(beta [log P(y_c)/P_ref(y_c) - log P(y_r)/P_ref(y_r)]). For ``tok`` the
  mixture is per token (P(y_t) = sum_tau P(tau | h_t) P(y_t | tau), summed in log space
  over tokens); for ``seq`` it is over the whole response, since one temperature drew all
  of it. It ignores which temperature was actually sampled.
- ``nll``: -log P(tau_c), plain likelihood of the chosen temperatures (the control).

P(y_t | tau) is the frozen model's softmax at temperature tau; at tau = 0 it is 1 for the
argmax token and 0 otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from papergrid.lm.model import GPT


class TemperatureHead(nn.Module):
    """Three linear layers with GELUs between: hidden state -> logits over temperatures."""

    def __init__(self, d_model: int, hidden: int, n_temps: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, n_temps),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.net(h).float(), dim=-1)


def lpo_loss(
    logp_c: torch.Tensor,
    logp_r: torch.Tensor,
    ref_c: torch.Tensor,
    ref_r: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Per pair: -log sigmoid(beta [(log P(tau_c) - ref_c) - (log P(tau_r) - ref_r)]),
    ``ref`` the reference head's log-probability of the same temperatures."""
    return -F.logsigmoid(beta * ((logp_c - ref_c) - (logp_r - ref_r)))


def uniform_reference(mask: torch.Tensor, n_temps: int, variant: str) -> torch.Tensor:
    """log P_ref(tau) of a response under the uniform reference head: -log K once for
    ``seq``, once per token for ``tok``."""
    per = -math.log(n_temps)
    if variant == "seq":
        return torch.full(mask.shape[:1], per)
    return mask.sum(-1) * per


def lpo_marginal_loss(
    marg_c: torch.Tensor,
    marg_r: torch.Tensor,
    ref_c: torch.Tensor,
    ref_r: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Per pair, from the marginal log-likelihoods of the responses under the head and
    under the reference head: -log sigmoid(beta [(m_c - ref_c) - (m_r - ref_r)])."""
    return -F.logsigmoid(beta * ((marg_c - ref_c) - (marg_r - ref_r)))


def nll_loss(logp_c: torch.Tensor) -> torch.Tensor:
    return -logp_c


def token_logps_by_temperature(
    logits: torch.Tensor, tokens: torch.Tensor, temperatures: Sequence[float]
) -> torch.Tensor:
    """log P(token | tau) for every tau: (..., vocab) logits and (...) tokens give
    (..., K). Temperature 0 is greedy: 0 for the argmax token, -inf otherwise."""
    out = []
    logits = logits.float()
    for t in temperatures:
        if t <= 0:
            hit = logits.argmax(dim=-1) == tokens
            out.append(torch.where(hit, 0.0, float("-inf")))
        else:
            lp = F.log_softmax(logits / t, dim=-1)
            out.append(lp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1))
    return torch.stack(out, dim=-1)


def marginal_logp(
    head_logp: torch.Tensor, tok_logp: torch.Tensor, mask: torch.Tensor, variant: str
) -> torch.Tensor:
    """log P(y) with the temperature marginalised out, per response.

    ``head_logp`` (B, T, K) is log P(tau | h_t) (for ``seq`` the same row at every t),
    ``tok_logp`` (B, T, K) log P(y_t | tau), ``mask`` (B, T) the response's tokens.
    """
    m = mask.to(tok_logp.dtype)
    if variant == "tok":
        # padding positions hold zeros, so every logsumexp below is finite there; a real
        # token is finite because some temperature in the set is above 0 (lpo.grid checks)
        per_token = torch.logsumexp(head_logp + tok_logp, dim=-1)  # (B, T)
        return torch.where(m.bool(), per_token, 0.0).sum(-1)
    # one temperature for the whole response: sum the tokens first, then mix
    seq = (torch.where(m.bool()[..., None], tok_logp, 0.0)).sum(1)  # (B, K)
    return torch.logsumexp(head_logp[:, 0] + seq, dim=-1)


def uniform_logp(shape: torch.Size, n_temps: int) -> torch.Tensor:
    return torch.full((*shape, n_temps), -torch.log(torch.tensor(float(n_temps))).item())


@dataclass
class PairFeatures:
    """The frozen model's view of every preference pair, computed once (the head trains
    on these): per side, the hidden state before each response token, the temperature
    index each token was drawn at, log P(y_t | tau) for every tau, and the token mask."""

    family: list[str]
    hidden_c: torch.Tensor  # (P, T, d)
    hidden_r: torch.Tensor
    tau_c: torch.Tensor  # (P, T) long
    tau_r: torch.Tensor
    logp_c: torch.Tensor  # (P, T, K)
    logp_r: torch.Tensor
    mask_c: torch.Tensor  # (P, T)
    mask_r: torch.Tensor

    def __len__(self) -> int:
        return len(self.family)

    def take(self, idx: torch.Tensor) -> PairFeatures:
        return PairFeatures(
            [self.family[i] for i in idx.tolist()],
            *(getattr(self, k)[idx] for k in _TENSORS),
        )


_TENSORS = ("hidden_c", "hidden_r", "tau_c", "tau_r", "logp_c", "logp_r", "mask_c", "mask_r")


def response_features(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    pad_id: int,
    temperatures: Sequence[float],
    width: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(hidden (B, width, d), log P(y_t | tau) (B, width, K), mask (B, width)) of each
    response under the frozen model: position t holds the state that predicted token t."""
    device = next(model.parameters()).device
    d, K = model.cfg.d_model, len(temperatures)
    if not prompts:  # no pairs: every prompt's samples tied
        return torch.zeros((0, width, d)), torch.zeros((0, width, K)), torch.zeros((0, width))
    seqs = [list(p) + list(r) for p, r in zip(prompts, responses, strict=True)]
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        att[i, : len(s)] = 1
    with torch.no_grad():
        logits, _, hidden = model(ids.to(device), return_hidden=True, attention_mask=att.to(device))
    h_out = torch.zeros((len(seqs), width, d))
    lp_out = torch.zeros((len(seqs), width, K))
    mask = torch.zeros((len(seqs), width))
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        n = min(len(r), width)
        if n == 0:
            continue
        pos = torch.arange(len(p) - 1, len(p) - 1 + n)
        h_out[i, :n] = hidden[i, pos].float().cpu()
        tok = torch.tensor(list(r[:n]))
        lp_out[i, :n] = token_logps_by_temperature(logits[i, pos].cpu(), tok, temperatures)
        mask[i, :n] = 1.0
    return h_out, lp_out, mask


def head_logps(head: TemperatureHead, hidden: torch.Tensor, variant: str) -> torch.Tensor:
    """log P(tau | state) (B, T, K): ``seq`` heads read only the first state (after the
    prompt) and repeat it over the response."""
    if variant == "seq":
        return head(hidden[:, :1]).expand(-1, hidden.size(1), -1)
    return head(hidden)


def chosen_logp(logp: torch.Tensor, tau: torch.Tensor, mask: torch.Tensor, variant: str):
    """log P(the temperatures a response was drawn at): one term for ``seq``, the sum over
    the response's tokens for ``tok``."""
    picked = logp.gather(-1, tau.unsqueeze(-1)).squeeze(-1)  # (B, T)
    if variant == "seq":
        return picked[:, 0]
    return (picked * mask).sum(-1)


def pair_loss(
    head: TemperatureHead, f: PairFeatures, loss: str, variant: str, beta: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, share of pairs whose chosen side the head prefers) on ``f``."""
    lc = head_logps(head, f.hidden_c, variant)
    lr = head_logps(head, f.hidden_r, variant)
    pc = chosen_logp(lc, f.tau_c, f.mask_c, variant)
    pr = chosen_logp(lr, f.tau_r, f.mask_r, variant)
    if loss == "lpo":
        K = lc.size(-1)
        rc = uniform_reference(f.mask_c, K, variant)
        rr = uniform_reference(f.mask_r, K, variant)
        per_pair = lpo_loss(pc, pr, rc, rr, beta)
    elif loss == "nll":
        per_pair = nll_loss(pc)
    elif loss == "lpo_marginal":
        K = lc.size(-1)
        mc = marginal_logp(lc, f.logp_c, f.mask_c, variant)
        mr = marginal_logp(lr, f.logp_r, f.mask_r, variant)
        rc = marginal_logp(uniform_logp(f.mask_c.shape, K), f.logp_c, f.mask_c, variant)
        rr = marginal_logp(uniform_logp(f.mask_r.shape, K), f.logp_r, f.mask_r, variant)
        per_pair = lpo_marginal_loss(mc, mr, rc, rr, beta)
    else:
        raise ValueError(f"unknown loss {loss!r}; allowed: lpo, lpo_marginal, nll")
    prefers = (pc > pr).float().mean()
    return per_pair.mean(), prefers
