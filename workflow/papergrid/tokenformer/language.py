"""TokenFormer's language: an order-2 Markov chain in which attention between tokens pays.

On a bigram language (``order: 1``) a model needs only the current token, so attention
between tokens, and the parameter tokens of its Q and K projections, are never exercised
(issue 30). Here the next token depends on the last two. With ``structure: permuted`` the
last token picks ``branching`` likely successors and the token before it picks their Zipf
order: a model that sees only the current token can learn which successors are likely
(the bigram part, learnt without attention) but not which is the most likely one, which
needs the previous position, fetched by attention. Both floors are exact:

- :attr:`PermutedSource.entropy_rate`: the loss of the true order-2 chain;
- :func:`bigram_entropy`: the loss of the best predictor from the current token alone
  (H(x_t+1 | x_t) under the stationary chain). The gap between them is what attention
  can win.

``structure: independent`` is the shared chain of :mod:`papergrid.lm.data.markov` (every
context its own random successors), which at order 2 gives a bigram marginal close to
uniform over the vocabulary: every gain then waits on attention, and a small model in
a few hundred steps gains nothing (tried before, docs/tokenformer.md).

:func:`prepare` is :func:`papergrid.lm.sources.markov` for this source: fresh sequences
every step, a fixed validation set, the loss counted from the first target with its full
context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from papergrid.lm.data.markov import MarkovSource

STRUCTURES = ("permuted", "independent")


@dataclass(frozen=True)
class PermutedSource(MarkovSource):
    """Order-2 chain: successors set by the last token, their Zipf order by the context."""

    @cached_property
    def table(self) -> np.ndarray:
        if self.order != 2:
            raise ValueError("a permuted source has order 2")
        rng = np.random.default_rng(self.seed)
        v, k = self.vocab, self.branching
        weights = np.arange(1, k + 1, dtype=float) ** -self.zipf_s
        weights /= weights.sum()
        successors = np.stack([rng.choice(v, size=k, replace=False) for _ in range(v)])
        table = np.full((v * v, v), self.smoothing / v)
        for c in range(v * v):
            last = c % v  # a context is (token before, last token), oldest first
            table[c, successors[last]] += (1 - self.smoothing) * weights[rng.permutation(k)]
        return table


def source(cfg: Mapping[str, Any]) -> MarkovSource:
    cls = PermutedSource if cfg["structure"] == "permuted" else MarkovSource
    return cls(
        cfg["vocab"],
        cfg["order"],
        cfg["branching"],
        cfg["zipf_s"],
        cfg["smoothing"],
        seed=cfg["table_seed"],
    )


def bigram_entropy(src: MarkovSource) -> float:
    """H(x_t+1 | x_t) in nats under the stationary chain: the floor of any predictor that
    sees only the current token (for order 1 it is the entropy rate itself)."""
    v = src.vocab
    # joint of (current token, next token): sum the stationary contexts sharing a last token
    pi = src.stationary.reshape(-1, v)  # (older tokens, last token)
    table = src.table.reshape(-1, v, v)  # (older tokens, last token, next)
    joint = np.einsum("ol,oln->ln", pi, table)
    cond = joint / joint.sum(axis=1, keepdims=True)
    return float(-(joint * np.log(cond)).sum())


def prepare(cfg: Mapping[str, Any], batch_size: int, seed: int, val_seed: int = 2_000_000):
    """:class:`papergrid.lm.sources.Prepared` for this language; ``meta`` carries the
    entropy rate and the bigram floor. ``seed`` sets the training stream, ``val_seed`` the
    validation sequences."""
    import torch

    from papergrid.lm.batches import MarkovStreamBatches
    from papergrid.lm.sources import Prepared
    from papergrid.lm.tokenizer import Tokenizer

    src = source(cfg)
    batches = MarkovStreamBatches(src, cfg["seq_len"], batch_size, 1_000 + seed)
    # one validation set for every seed and arm: the arms of a seed differ in nothing else
    val = torch.from_numpy(src.sample(cfg["n_val"], cfg["seq_len"] + 1, seed=val_seed))
    mask = (torch.arange(cfg["seq_len"]) >= src.order - 1).float().expand(len(val), -1)

    def evaluate(model) -> dict[str, float]:
        device = next(model.parameters()).device
        v = val.to(device)
        _, loss = model(v[:, :-1], v[:, 1:], loss_mask=mask.to(device))
        return {"val_loss": loss.item()}

    tok = Tokenizer("symbol", tuple(f"s{i}" for i in range(src.vocab)))
    meta = {"entropy_floor": src.entropy_rate, "bigram_floor": bigram_entropy(src)}
    return Prepared(tok, batches, evaluate, cfg["seq_len"], meta)
