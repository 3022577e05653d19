"""Synthetic facts whose information content is known exactly (Allen-Zhu and Li 2024).

Each of ``n_people`` individuals has one value per attribute, drawn uniformly and
independently from that attribute's ``n_values`` choices, so the data set holds exactly
``n_people * sum(log2 n_values)`` bits. A fact is the prompt ``person attribute`` and the
response ``value``: a model learns it as a prefix language model, with the loss on the
value token only.

Bits stored (the paper's measure): summed over facts, the prior's code length of the value
(log2 of its choices) minus the model's cross-entropy on it, in bits, floored at zero per
fact. A model that has learnt nothing stores 0 bits; one that predicts every value with
certainty stores the whole information content. Divided by N, it is the bits per
parameter the paper finds to be about 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from papergrid.lm.tokenizer import PAD, Tokenizer


@dataclass(frozen=True)
class FactSet:
    n_people: int
    n_values: tuple[int, ...]  # choices of each attribute
    seed: int = 0

    def __post_init__(self):
        if self.n_people < 1:
            raise ValueError(f"n_people must be >= 1, got {self.n_people}")
        if not self.n_values or any(v < 2 for v in self.n_values):
            raise ValueError(f"every attribute needs at least 2 values, got {self.n_values}")

    @cached_property
    def values(self) -> np.ndarray:
        """(n_people, n_attributes): the index of each person's value of each attribute."""
        rng = np.random.default_rng(self.seed)
        return np.stack([rng.integers(0, v, self.n_people) for v in self.n_values], axis=1)

    @property
    def n_facts(self) -> int:
        return self.n_people * len(self.n_values)

    @property
    def information_bits(self) -> float:
        """The data set's exact information content."""
        return self.n_people * sum(math.log2(v) for v in self.n_values)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """<pad>, then a token per person, per attribute and per (attribute, value): each
        attribute has values of its own, so a value token also says which attribute."""
        people = [f"p{i}" for i in range(self.n_people)]
        attrs = [f"a{k}" for k in range(len(self.n_values))]
        values = [f"v{k}_{j}" for k, n in enumerate(self.n_values) for j in range(n)]
        return Tokenizer("word", (PAD, *people, *attrs, *values), (PAD,))

    def pairs(self) -> list[tuple[list[int], list[int]]]:
        """Every fact as (prompt ids, response ids), person-major."""
        tok = self.tokenizer
        return [
            (
                [tok.id(f"p{i}"), tok.id(f"a{k}")],
                [tok.id(f"v{k}_{int(self.values[i, k])}")],
            )
            for i in range(self.n_people)
            for k in range(len(self.n_values))
        ]

    def prior_bits(self) -> np.ndarray:
        """log2 of the choices of each fact's attribute, in :meth:`pairs` order."""
        per_attr = np.log2(np.asarray(self.n_values, dtype=float))
        return np.tile(per_attr, self.n_people)


def steps_for_exposures(n_facts: int, exposures: int, batch_size: int) -> int:
    """Optimizer steps in which each fact is drawn ``exposures`` times on average."""
    if exposures < 1 or batch_size < 1:
        raise ValueError("exposures and batch_size must be >= 1")
    return math.ceil(exposures * n_facts / batch_size)


def bits_stored(value_nll_nats: Sequence[float], prior_bits: Sequence[float]) -> float:
    """Sum over facts of max(0, prior bits - the model's cross-entropy in bits)."""
    nll = np.asarray(value_nll_nats, dtype=float) / math.log(2)
    prior = np.asarray(prior_bits, dtype=float)
    if nll.shape != prior.shape:
        raise ValueError(f"{nll.shape[0]} losses for {prior.shape[0]} facts")
    return float(np.maximum(prior - nll, 0.0).sum())
