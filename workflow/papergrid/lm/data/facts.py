"""Synthetic facts whose information content is known exactly (Allen-Zhu and Li 2024).

Each of ``n_people`` individuals has a name of ``name_tokens`` tokens drawn from a pool of
``syllables`` (every person a distinct tuple, as the paper's first, middle and last names)
and one value per attribute, drawn uniformly and independently from that attribute's
``n_values`` choices, so the values hold exactly ``n_people * sum(log2 n_values)`` bits.
The vocabulary (syllables, attributes, values) does not grow with the number of people:
a model cannot keep a person's facts in an embedding row of that person's own, and must
store them in weights it shares with everyone.

A fact is the prompt ``name attribute`` and the response ``value`` (a token of that
attribute's own); a model learns it as a prefix language model, with the loss on the
value token only.

Bits stored (the paper's measure): summed over facts, the prior's code length of the value
(log2 of its choices) minus the model's cross-entropy on it, in bits, floored at zero per
fact. A model that has learnt nothing stores 0 bits; one that predicts every value with
certainty stores the whole information content. Divided by the parameter count, it is the
bits per parameter the paper finds to be about 2.
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
    name_tokens: int = 2  # tokens per name
    syllables: int = 32  # the pool every name token is drawn from
    seed: int = 0

    def __post_init__(self):
        if self.n_people < 1:
            raise ValueError(f"n_people must be >= 1, got {self.n_people}")
        if not self.n_values or any(v < 2 for v in self.n_values):
            raise ValueError(f"every attribute needs at least 2 values, got {self.n_values}")
        if self.name_tokens < 1 or self.syllables < 2:
            raise ValueError("name_tokens must be >= 1 and syllables >= 2")
        if self.syllables**self.name_tokens < self.n_people:
            raise ValueError(
                f"{self.syllables}^{self.name_tokens} distinct names cannot name "
                f"{self.n_people} people; raise syllables or name_tokens"
            )

    @cached_property
    def names(self) -> np.ndarray:
        """(n_people, name_tokens): each person's syllable indices, no two rows alike."""
        rng = np.random.default_rng([self.seed, 0])
        # distinct integers below S^k, written in base S: a uniform draw of distinct names
        codes = rng.choice(self.syllables**self.name_tokens, self.n_people, replace=False)
        powers = self.syllables ** np.arange(self.name_tokens - 1, -1, -1)
        return (codes[:, None] // powers) % self.syllables

    @cached_property
    def values(self) -> np.ndarray:
        """(n_people, n_attributes): the index of each person's value of each attribute."""
        rng = np.random.default_rng([self.seed, 1])
        return np.stack([rng.integers(0, v, self.n_people) for v in self.n_values], axis=1)

    @property
    def n_attributes(self) -> int:
        return len(self.n_values)

    @property
    def n_facts(self) -> int:
        return self.n_people * self.n_attributes

    @property
    def information_bits(self) -> float:
        """The values' exact information content (the names' own is not counted: a model
        is never asked to produce a name)."""
        return self.n_people * sum(math.log2(v) for v in self.n_values)

    @property
    def vocab_size(self) -> int:
        return vocab_size(self.n_values, self.syllables)

    @property
    def seq_len(self) -> int:
        """Tokens of one fact: the name, the attribute and the value."""
        return self.name_tokens + 2

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """<pad>, a token per syllable, per attribute and per (attribute, value): each
        attribute has values of its own, so a value token also says which attribute."""
        syllables = [f"n{s}" for s in range(self.syllables)]
        attrs = [f"a{k}" for k in range(self.n_attributes)]
        values = [f"v{k}_{j}" for k, n in enumerate(self.n_values) for j in range(n)]
        return Tokenizer("word", (PAD, *syllables, *attrs, *values), (PAD,))

    @cached_property
    def ids(self) -> np.ndarray:
        """(n_facts, seq_len) token ids of every fact, person-major: name, attribute, value.
        Ids follow the tokenizer's order: <pad> 0, syllables, attributes, then values."""
        n_attr = self.n_attributes
        offsets = np.concatenate([[0], np.cumsum(self.n_values)[:-1]])
        first_value = 1 + self.syllables + n_attr
        names = np.repeat(self.names + 1, n_attr, axis=0)  # (n_facts, name_tokens)
        attrs = np.tile(np.arange(n_attr), self.n_people)
        vals = first_value + (offsets[None, :] + self.values).reshape(-1)
        return np.column_stack([names, 1 + self.syllables + attrs, vals]).astype(np.int64)

    def pairs(self) -> list[tuple[list[int], list[int]]]:
        """Every fact as (prompt ids, response ids), in :attr:`ids` order."""
        return [(row[:-1].tolist(), row[-1:].tolist()) for row in self.ids]

    def prior_bits(self) -> np.ndarray:
        """log2 of the choices of each fact's attribute, in :attr:`ids` order."""
        per_attr = np.log2(np.asarray(self.n_values, dtype=float))
        return np.tile(per_attr, self.n_people)


def vocab_size(n_values: Sequence[int], syllables: int) -> int:
    """Tokens of a fact set's vocabulary, known without building it: <pad>, syllables,
    attributes, values."""
    return 1 + syllables + len(n_values) + sum(n_values)


def steps_for_exposures(n_facts: int, exposures: int, batch_size: int) -> int:
    """Optimizer steps in which each fact is drawn ``exposures`` times."""
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
