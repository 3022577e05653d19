"""Training batches that are a pure function of the step number.

``get(step)`` draws its examples from a generator seeded with (seed, step), so a run
resumed from a checkpoint at step s sees exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # (B, T) input ids
    y: torch.Tensor  # (B, T) target ids
    mask: torch.Tensor | None  # (B, T) 1 where the target counts, or None for all


@dataclass(frozen=True)
class StreamBatches:
    """Language modelling on fixed-length sequences: (n_seq, seq_len + 1) token ids."""

    data: np.ndarray
    batch_size: int
    seed: int

    def get(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, step])
        rows = torch.from_numpy(self.data[rng.integers(0, len(self.data), self.batch_size)])
        return Batch(rows[:, :-1], rows[:, 1:], None)


@dataclass(frozen=True)
class MarkovStreamBatches:
    """Fresh Markov sequences generated for each step (no data held in memory)."""

    source: object  # papergrid.lm.data.markov.MarkovSource
    seq_len: int
    batch_size: int
    seed: int

    def get(self, step: int) -> Batch:
        seed = int(np.random.default_rng([self.seed, step]).integers(2**62))
        rows = torch.from_numpy(self.source.sample(self.batch_size, self.seq_len + 1, seed))
        return Batch(rows[:, :-1], rows[:, 1:], None)


def pad_pairs(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int) -> Batch:
    """Concatenate prompt and response ids, pad to the longest, count response targets only."""
    seqs = [list(p) + list(r) for p, r in pairs]
    length = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    y = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length))
    for i, ((prompt, _), seq) in enumerate(zip(pairs, seqs, strict=True)):
        n = len(seq) - 1
        x[i, :n] = torch.tensor(seq[:-1])
        y[i, :n] = torch.tensor(seq[1:])
        mask[i, len(prompt) - 1 : n] = 1.0  # targets from the first response token on
    return Batch(x, y, mask)


@dataclass(frozen=True)
class PairBatches:
    """Prompt/response pairs (SCAN as a prefix LM, SFT): loss on response tokens only.

    ``keep`` (one flag per pair) leaves pairs out without changing what the others see:
    each step draws its ``batch_size`` indices from every pair, as a run keeping all of
    them would, and drops the ones not kept. A data ablation with the same seed therefore
    trains on exactly the same examples of the kept skills at the same steps (the same
    exposure), and the two runs are paired.
    """

    pairs: Sequence[tuple[Sequence[int], Sequence[int]]]
    batch_size: int
    seed: int
    pad_id: int
    keep: Sequence[bool] | None = None

    def __post_init__(self):
        if self.keep is not None and len(self.keep) != len(self.pairs):
            raise ValueError("PairBatches: one keep flag per pair")
        if self.keep is not None and not any(self.keep):
            raise ValueError("PairBatches: every pair is left out")

    def get(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, step])
        idx = rng.integers(0, len(self.pairs), self.batch_size)
        if self.keep is not None:
            kept = [i for i in idx if self.keep[i]]
            if not kept:  # every draw was left out: a step with nothing to learn from
                return empty_batch(self.pad_id)
            idx = kept
        return pad_pairs([self.pairs[i] for i in idx], self.pad_id)


def empty_batch(pad_id: int) -> Batch:
    """One padding token whose target does not count (mask 0)."""
    pad = torch.full((1, 1), pad_id, dtype=torch.long)
    return Batch(pad, pad.clone(), torch.zeros((1, 1)))


def micro_batches(batch: Batch, n: int) -> list[Batch]:
    """``batch`` split by rows into ``n`` micro-batches (gradient accumulation), each
    trimmed to its own last counted target: their token counts differ, which is what
    makes a per-micro-batch mean loss weight tokens unequally (Tülu 3's sum-loss point)."""
    if n <= 1:
        return [batch]
    out = []
    for rows in torch.arange(batch.x.size(0)).tensor_split(n):
        if rows.numel() == 0:
            continue
        x, y = batch.x[rows], batch.y[rows]
        mask = None if batch.mask is None else batch.mask[rows]
        if mask is not None:
            counted = torch.nonzero(mask.sum(0)).flatten()
            end = int(counted[-1]) + 1 if counted.numel() else 1
            x, y, mask = x[:, :end], y[:, :end], mask[:, :end]
        out.append(Batch(x, y, mask))
    return out
