"""Sampling responses for training data (preference pairs, RL rollouts, decoding heads).

:func:`sample` decodes a batch of prompts of different lengths together: the prompts are
left-padded, the padding is kept out of attention and positions count from each prompt's
first token (:func:`papergrid.lm.model.padded_mask`), so a prompt gets the same logits in
any batch. Each row has its own temperature, fixed or chosen at every step from the last
hidden state (a temperature head); temperature 0 decodes greedily. Every sampled token's
log-probability under the model at temperature 1 (the policy) is returned with it. The
key/value cache makes each step cost one position. Draws come from a ``torch.Generator``,
so a call is deterministic given the generator's seed (:func:`generator_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from papergrid.lm.model import GPT, padded_mask, padded_positions

# (step, last hidden state (B, d_model)) -> temperatures (B,); may keep its own record
TemperatureFn = Callable[[int, torch.Tensor], torch.Tensor]


@dataclass
class Samples:
    """One response per prompt, in prompt order."""

    responses: list[list[int]]  # sampled tokens, the end token included when emitted
    logprobs: list[list[float]]  # log p(token) at temperature 1, one per response token
    temperatures: list[list[float]]  # the temperature each token was drawn at
    finished: list[bool]  # the response ended with the end token within the budget

    def lengths(self) -> list[int]:
        return [len(r) for r in self.responses]


def generator_for(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded from (seed, step): the draws of a training step are a function
    of the step alone, as the batches are, so a resumed run draws the same samples."""
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.default_rng([seed, step]).integers(2**62)))
    return g


def left_pad(
    prompts: Sequence[Sequence[int]], pad_id: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P) ids and attention mask of prompts padded on the left to the longest."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if len(p):
            ids[i, width - len(p) :] = torch.tensor(list(p))
            mask[i, width - len(p) :] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def sample(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    *,
    max_new: int,
    eos_id: int,
    pad_id: int,
    temperature: float | Sequence[float] | torch.Tensor | TemperatureFn = 1.0,
    generator: torch.Generator | None = None,
    top_k: int | None = None,
) -> Samples:
    """Sample one response per prompt (see the module docstring).

    ``temperature`` is one value, one per row, or a function of (step, hidden state)
    giving one per row at every step. Rows stop at ``eos_id``, at ``max_new`` tokens or
    at the model's ``block_size``, whichever comes first.
    """
    if not prompts:
        return Samples([], [], [], [])
    device = next(model.parameters()).device
    ids, valid = left_pad(prompts, pad_id, device)
    B, width = ids.shape
    budget = min(max_new, model.cfg.block_size - width)
    caches: list[dict] = [{} for _ in model.blocks]
    logits, hidden = model.decode_step(ids, padded_positions(valid), caches, padded_mask(valid))
    logits, hidden = logits[:, -1], hidden[:, -1]
    pos = padded_positions(valid)[:, -1] + 1  # (B,)
    keys = valid.bool()
    done = torch.zeros(B, dtype=torch.bool, device=device)
    tokens, logps, temps = [], [], []
    fixed = None
    if not callable(temperature):
        fixed = torch.as_tensor(temperature, dtype=torch.float32, device=device).expand(B)
    for step in range(budget):
        t = fixed if fixed is not None else temperature(step, hidden).to(device).float()
        logp = F.log_softmax(logits.float(), dim=-1)  # (B, vocab) at temperature 1
        scaled = logits.float() / t.clamp_min(1e-6)[:, None]
        if top_k is not None:
            kth = torch.topk(scaled, min(top_k, scaled.size(-1))).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        drawn = torch.multinomial(F.softmax(scaled, dim=-1), 1, generator=generator).squeeze(-1)
        tok = torch.where(t <= 0, logits.argmax(dim=-1), drawn)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        tokens.append(tok)
        logps.append(
            torch.where(
                done, torch.zeros(B, device=device), logp.gather(-1, tok[:, None]).squeeze(-1)
            )
        )
        temps.append(t)
        real = ~done  # the end token itself is a real token of its response
        done = done | (tok == eos_id)
        if bool(done.all()) or step == budget - 1:
            break
        keys = torch.cat([keys, real[:, None]], dim=1)
        mask = keys[:, None, None, :].clone()
        mask[..., -1] = True  # a finished row's query attends to its own slot
        logits, hidden = model.decode_step(tok[:, None], pos[:, None], caches, mask)
        logits, hidden = logits[:, -1], hidden[:, -1]
        pos = pos + 1
    return _collect(tokens, logps, temps, eos_id, B)


def _collect(tokens, logps, temps, eos_id: int, batch: int) -> Samples:
    if not tokens:
        return Samples(
            [[] for _ in range(batch)],
            [[] for _ in range(batch)],
            [[] for _ in range(batch)],
            [False] * batch,
        )
    tok = torch.stack(tokens, dim=1).tolist()
    lp = torch.stack(logps, dim=1).tolist()
    tt = torch.stack(temps, dim=1).tolist()
    out = Samples([], [], [], [])
    for row, lrow, trow in zip(tok, lp, tt, strict=True):
        n = row.index(eos_id) + 1 if eos_id in row else len(row)
        out.responses.append(row[:n])
        out.logprobs.append(lrow[:n])
        out.temperatures.append(trow[:n])
        out.finished.append(eos_id in row)
    return out
