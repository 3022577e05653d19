"""A synthetic language whose entropy rate is known exactly.

Tokens follow an order-``k`` Markov chain over ``vocab`` symbols: every context (the
last ``k`` tokens) has its own sparse next-token distribution, ``branching`` successors
with Zipf weights p_i proportional to i^-zipf_s, mixed with ``smoothing`` of the uniform
distribution so the chain is irreducible and aperiodic. Its stationary distribution
over contexts, and hence the entropy rate

    H = - sum_c pi(c) sum_x P(x | c) log P(x | c)     (nats per token),

are computed exactly by power iteration on the sparse context-transition matrix. H is
the loss floor that a model with at least ``k`` tokens of context can reach; fitted
irreducible losses E are checked against it. Larger vocab, order or branching make the
table to be learnt bigger, so larger models keep improving.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class MarkovSource:
    vocab: int = 32  # symbols
    order: int = 2  # tokens of context the next token depends on
    branching: int = 4  # likely successors per context
    zipf_s: float = 1.0  # Zipf exponent of the successor weights
    smoothing: float = 0.01  # weight of the uniform distribution mixed in
    seed: int = 0  # draws the transition table

    def __post_init__(self):
        if self.vocab < 2 or self.order < 1 or not 1 <= self.branching <= self.vocab:
            raise ValueError("need vocab >= 2, order >= 1 and 1 <= branching <= vocab")
        if not 0 < self.smoothing < 1:
            raise ValueError("smoothing must be in (0, 1): it keeps the chain irreducible")
        if self.vocab**self.order > 2**22:
            raise ValueError(f"vocab^order = {self.vocab**self.order} contexts is too many")

    @property
    def n_contexts(self) -> int:
        return self.vocab**self.order

    @cached_property
    def table(self) -> np.ndarray:
        """(n_contexts, vocab) next-token probabilities; rows sum to 1."""
        rng = np.random.default_rng(self.seed)
        weights = np.arange(1, self.branching + 1, dtype=float) ** -self.zipf_s
        weights /= weights.sum()
        table = np.full((self.n_contexts, self.vocab), self.smoothing / self.vocab)
        for c in range(self.n_contexts):
            succ = rng.choice(self.vocab, size=self.branching, replace=False)
            table[c, succ] += (1 - self.smoothing) * weights
        return table

    def next_context(self, context: np.ndarray, token: np.ndarray) -> np.ndarray:
        # a context is the base-`vocab` number of the last `order` tokens, oldest first
        return (context * self.vocab) % self.n_contexts + token

    @cached_property
    def stationary(self) -> np.ndarray:
        """Stationary distribution over contexts (power iteration to 1e-13 in L1)."""
        rows = np.repeat(np.arange(self.n_contexts), self.vocab)
        tokens = np.tile(np.arange(self.vocab), self.n_contexts)
        cols = self.next_context(rows, tokens)
        trans = sparse.csr_matrix(
            (self.table.ravel(), (rows, cols)), shape=(self.n_contexts, self.n_contexts)
        )
        pi = np.full(self.n_contexts, 1.0 / self.n_contexts)
        for _ in range(100_000):
            nxt = trans.T @ pi
            if np.abs(nxt - pi).sum() < 1e-13:
                return nxt / nxt.sum()
            pi = nxt
        raise RuntimeError("power iteration did not converge")

    @cached_property
    def entropy_rate(self) -> float:
        """Exact entropy rate in nats per token."""
        p = self.table
        return float(-(self.stationary * (p * np.log(p)).sum(axis=1)).sum())

    @cached_property
    def unigram_entropy(self) -> float:
        """Entropy of the stationary symbol distribution, nats: the loss of the best model
        that ignores context (a model above it has learnt nothing of the language)."""
        p = self.stationary.reshape(-1, self.vocab).sum(axis=0)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def sample(self, n_seq: int, seq_len: int, seed: int) -> np.ndarray:
        """(n_seq, seq_len) int64 tokens; each sequence starts from the stationary chain."""
        rng = np.random.default_rng(seed)
        out = np.empty((n_seq, seq_len), dtype=np.int64)
        # the first `order` tokens are the digits of a context drawn from pi
        ctx = rng.choice(self.n_contexts, size=n_seq, p=self.stationary)
        for j in range(self.order):
            out[:, j] = (ctx // self.vocab ** (self.order - 1 - j)) % self.vocab
        cdf = np.cumsum(self.table, axis=1)
        for t in range(self.order, seq_len):
            u = rng.random(n_seq)[:, None]
            tok = np.minimum((u > cdf[ctx]).sum(axis=1), self.vocab - 1)
            out[:, t] = tok
            ctx = self.next_context(ctx, tok)
        return out

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        """log P(x_t | previous `order` tokens) for t >= order: shape (n_seq, seq_len - order)."""
        n, length = tokens.shape
        ctx = np.zeros(n, dtype=np.int64)
        for j in range(self.order):
            ctx = ctx * self.vocab + tokens[:, j]
        out = np.empty((n, length - self.order))
        for t in range(self.order, length):
            out[:, t - self.order] = np.log(self.table[ctx, tokens[:, t]])
            ctx = self.next_context(ctx, tokens[:, t])
        return out
