"""A nested-bracket language (Dyck-k with bounded depth) with exactly known log-probabilities.

Each sequence starts with an empty stack. While the stack is empty the next token opens
one of ``k`` bracket types uniformly; at ``max_depth`` it closes the top bracket; otherwise
it opens a uniform type with probability ``p_open`` and closes the top with 1 - p_open.
Which bracket closes is determined by the stack, so predicting it needs the matching
unclosed bracket found across any distance: long-range nesting that a Markov chain lacks.
Depth moves this language's loss (in the default depth grid, deep narrow models learn it
slower; docs/depth.md), where the first design's Markov language's did not move.

Every token's true log-probability given its prefix is returned with the sample, so the
floor a perfect model reaches on given sequences is their mean negative log-probability,
computed on the very sequences a model is scored on rather than estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DyckSource:
    k: int = 4  # bracket types; token 2t opens type t, 2t + 1 closes it
    p_open: float = 0.5  # probability of opening when both moves are allowed
    max_depth: int = 6  # nesting bound

    def __post_init__(self):
        if self.k < 1 or self.max_depth < 1 or not 0 < self.p_open < 1:
            raise ValueError("need k >= 1, max_depth >= 1 and 0 < p_open < 1")

    @property
    def vocab(self) -> int:
        return 2 * self.k

    def sample(self, n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, logp), both (n, length): sequences from an empty stack and each token's
        true log-probability given the tokens before it in its sequence."""
        rng = np.random.default_rng(seed)
        tokens = np.empty((n, length), dtype=np.int64)
        logp = np.empty((n, length))
        opens = rng.random((n, length)) < self.p_open
        types = rng.integers(0, self.k, (n, length))
        log_type = -np.log(self.k)
        for i in range(n):
            stack: list[int] = []
            for j in range(length):
                if not stack:
                    move_open, lp = True, log_type
                elif len(stack) >= self.max_depth:
                    move_open, lp = False, 0.0
                elif opens[i, j]:
                    move_open, lp = True, np.log(self.p_open) + log_type
                else:
                    move_open, lp = False, np.log1p(-self.p_open)
                if move_open:
                    stack.append(int(types[i, j]))
                    tokens[i, j] = 2 * stack[-1]
                else:
                    tokens[i, j] = 2 * stack.pop() + 1
                logp[i, j] = lp
        return tokens, logp
