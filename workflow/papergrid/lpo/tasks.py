"""The adaptive-decoding task families: one where greedy decoding is best, one where
diversity is rewarded, and one that needs both within a response.

- ``exact``: a verifiable skill of the task suite (:mod:`papergrid.lm.data.tasks`,
  ``sort`` by default); reward 1 when the verifier accepts the response. The frozen model
  is trained on references of which a share ``noise`` has one symbol replaced, so its
  distribution keeps mass on wrong answers: sampling errs where greedy decoding does not.
- ``novel``: "Invent: <topic>" asks for a word of a small grammar: three slots, each
  filled from the topic's own syllables with Zipf weights. Reward 1 when the word is
  valid and not among the topic's ``n_cliches`` most probable words, the words already
  produced for this prompt (a greedy or cold decoder keeps producing them).
- ``constraint``: "Start: x" asks for ``segments`` space-separated segments, each ``x``
  followed by two body letters. Reward 1 when every segment starts with ``x`` and no two
  segments are equal. Training segments start with ``x`` only with probability
  ``start_p`` and body letters follow Zipf weights, so the start token wants a low
  temperature and the body a high one: the per-token head's case.
"""

from __future__ import annotations

import functools
import itertools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from papergrid.lm.data import tasks

FAMILIES = ("exact", "novel", "constraint")
BODY_LETTERS = "abcdef"  # the constraint task's body alphabet, in Zipf order
START_LETTERS = "uvwxyz"  # its segment-start letters (disjoint from the body)


@dataclass(frozen=True)
class Prompt:
    """One prompt of a family, with what its reward needs."""

    family: str
    text: str
    reference: str  # a training response (exact: the correct answer)
    meta: Mapping[str, Any] = field(default_factory=dict)


def zipf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


@dataclass(frozen=True)
class Grammar:
    """The novel family's topics: ``slots`` slots of ``options`` syllables each."""

    topics: int
    slots: int
    options: int
    zipf_s: float
    n_cliches: int
    seed: int

    @functools.cache  # noqa: B019 (frozen and small: one entry per configuration)
    def syllables(self) -> list[list[list[str]]]:
        """topic -> slot -> syllables (two letters, distinct within a slot)."""
        rng = np.random.default_rng([self.seed, 17])
        pool = ["".join(p) for p in itertools.product("ghijklmnopqrst", "aeiou")]
        out = []
        for _ in range(self.topics):
            picks = rng.choice(len(pool), size=(self.slots, self.options), replace=False)
            out.append([[pool[i] for i in row] for row in picks])
        return out

    def weights(self) -> np.ndarray:
        return zipf(self.options, self.zipf_s)

    @functools.cache  # noqa: B019
    def cliches(self, topic: int) -> list[str]:
        """The topic's ``n_cliches`` most probable words (ties broken by slot order)."""
        syl, w = self.syllables()[topic], self.weights()
        words = sorted(
            itertools.product(range(self.options), repeat=self.slots),
            key=lambda c: (-float(np.prod(w[list(c)])), c),
        )
        return ["".join(syl[s][i] for s, i in enumerate(c)) for c in words[: self.n_cliches]]

    def valid(self, topic: int, word: str) -> bool:
        syl = self.syllables()[topic]
        parts = [word[i : i + 2] for i in range(0, len(word), 2)]
        return len(word) == 2 * self.slots and all(p in syl[s] for s, p in enumerate(parts))


def topic_name(topic: int) -> str:
    return string.ascii_uppercase[topic]


def exact_prompts(cfg: Mapping[str, Any], n: int, seed: int, noise: float = 0.0) -> list[Prompt]:
    """Task-suite prompts; with ``noise`` that share of references has one symbol replaced
    by another of the same kind (training data only)."""
    rng = np.random.default_rng([seed, 101])
    out = []
    for e in tasks.generate(cfg["skill"], n, seed=seed, size=cfg["size"]):
        ref = e.reference
        if noise > 0 and rng.random() < noise:
            ref = _corrupt(ref, rng)
        out.append(Prompt("exact", e.prompt, ref, {"example": e}))
    return out


def fresh_exact(cfg: Mapping[str, Any], n: int, seed: int, exclude: frozenset[str]) -> list[Prompt]:
    """``n`` distinct verifiable prompts, none in ``exclude``: the first ones of the seed's
    stream that qualify (a longer draw of a stream begins with the shorter one)."""
    m = 2 * n
    while True:
        out, seen = [], set(exclude)
        for p in exact_prompts(cfg, m, seed):
            if p.text not in seen:
                seen.add(p.text)
                out.append(p)
                if len(out) == n:
                    return out
        if m > 64 * n:
            raise ValueError(
                f"lpo.tasks.exact: {cfg['skill']} of size {cfg['size']} has too few distinct "
                f"prompts for {n} held-out ones; raise its size or lower the prompt counts"
            )
        m *= 2


def _corrupt(text: str, rng: np.random.Generator) -> str:
    spots = [i for i, c in enumerate(text) if c.isalnum()]
    if not spots:
        return text
    i = int(rng.choice(spots))
    alphabet = string.digits if text[i].isdigit() else string.ascii_lowercase
    c = str(rng.choice([a for a in alphabet if a != text[i]]))
    return text[:i] + c + text[i + 1 :]


def novel_prompts(grammar: Grammar, n: int, seed: int) -> list[Prompt]:
    rng = np.random.default_rng([seed, 202])
    syl, w = grammar.syllables(), grammar.weights()
    out = []
    for _ in range(n):
        t = int(rng.integers(grammar.topics))
        word = "".join(
            syl[t][s][int(rng.choice(grammar.options, p=w))] for s in range(grammar.slots)
        )
        out.append(Prompt("novel", f"Invent: {topic_name(t)}", word, {"topic": t}))
    return out


def constraint_prompts(cfg: Mapping[str, Any], n: int, seed: int) -> list[Prompt]:
    rng = np.random.default_rng([seed, 303])
    w = zipf(len(BODY_LETTERS), cfg["zipf_s"])
    out = []
    for _ in range(n):
        x = str(rng.choice(list(START_LETTERS)))
        segs = []
        for _ in range(cfg["segments"]):
            start = x if rng.random() < cfg["start_p"] else str(rng.choice(list(START_LETTERS)))
            body = "".join(BODY_LETTERS[int(rng.choice(len(w), p=w))] for _ in range(2))
            segs.append(start + body)
        out.append(Prompt("constraint", f"Start: {x}", " ".join(segs), {"start": x}))
    return out


@dataclass(frozen=True)
class Suite:
    """The three families as configured (``lpo.tasks``)."""

    cfg: Mapping[str, Any]

    @property
    def grammar(self) -> Grammar:
        g = self.cfg["novel"]
        return Grammar(g["topics"], g["slots"], g["options"], g["zipf_s"], g["n_cliches"], 0)

    def prompts(
        self,
        family: str,
        n: int,
        seed: int,
        noise: float = 0.0,
        exclude: frozenset[str] = frozenset(),
    ) -> list[Prompt]:
        """``n`` prompts of ``family``. With ``exclude`` (prompt texts), verifiable prompts
        are distinct and none of them excluded (held out); the other families have a
        handful of prompts and repeat them."""
        if family == "exact" and exclude:
            return fresh_exact(self.cfg["exact"], n, seed, exclude)
        if family == "exact":
            return exact_prompts(self.cfg["exact"], n, seed, noise)
        if family == "novel":
            return novel_prompts(self.grammar, n, seed)
        if family == "constraint":
            return constraint_prompts(self.cfg["constraint"], n, seed)
        raise ValueError(f"unknown task family {family!r}; allowed: {list(FAMILIES)}")

    def training_texts(self, n_per_family: int, seed: int) -> list[Prompt]:
        """The frozen model's training data: every family, exact with its noise."""
        noise = self.cfg["exact"]["noise"]
        return [p for f in FAMILIES for p in self.prompts(f, n_per_family, seed, noise)]

    def reward(self, prompt: Prompt, response: str) -> float:
        if prompt.family == "exact":
            return float(prompt.meta["example"].verify(response))
        if prompt.family == "novel":
            g, t = self.grammar, prompt.meta["topic"]
            return float(g.valid(t, response) and response not in g.cliches(t))
        segs = response.split(" ")
        x = prompt.meta["start"]
        ok = (
            len(segs) == self.cfg["constraint"]["segments"]
            and all(len(s) == 3 and s[0] == x and set(s[1:]) <= set(BODY_LETTERS) for s in segs)
            and len(set(segs)) == len(segs)
        )
        return float(ok)

    def constrained_positions(self, prompt: Prompt, response_tokens: Sequence[str]) -> list[bool]:
        """Per response token: does it start a segment (the constrained positions)?"""
        if prompt.family != "constraint":
            return [False] * len(response_tokens)
        out, at_start = [], True
        for tok in response_tokens:
            out.append(at_start and tok != " ")
            at_start = tok == " "
        return out
