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
    """Prompt/response pairs (SCAN as a prefix LM, SFT): loss on response tokens only."""

    pairs: Sequence[tuple[Sequence[int], Sequence[int]]]
    batch_size: int
    seed: int
    pad_id: int

    def get(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, step])
        idx = rng.integers(0, len(self.pairs), self.batch_size)
        return pad_pairs([self.pairs[i] for i in idx], self.pad_id)
