"""The adaptive-decoding task families: one where greedy decoding is best, one where
diversity is rewarded, and one that needs both within a response.

- ``exact``: a verifiable skill of the task suite (:mod:`papergrid.lm.data.tasks`,
  ``sort`` by default); reward 1 when the verifier accepts the response, else 0 (the
  paper's GSM8K reward is correctness too). The frozen model is trained on references of
  which a share ``noise`` has one symbol replaced, so its distribution keeps mass on wrong
  answers: sampling errs where greedy decoding does not.
- ``novel``: "Invent: <topic> <tag>" asks for a word of a small grammar: three slots, each
  filled from the topic's own syllables with Zipf weights. The reward is graded, as the
  paper's reward model is continuous: 0 for an invalid word, else 1 - q(word) / q(mode),
  with q the grammar's probability, so the topic's most probable word (what a greedy
  decoder produces) scores 0 and rare words nearly 1.
- ``constraint``: "Start: x <tag>" asks for ``segments`` space-separated segments, each
  ``x`` followed by two body letters. The reward is graded: the distinct well-formed
  segments that start with ``x`` (at most ``segments``), over the larger of ``segments`` and
  the segments given.
  Training segments start with ``x`` only with probability ``start_p`` of that letter
  (one value per start letter) and body letters follow Zipf weights, so the start token
  wants a low temperature and the body a high one: the per-token head's case. Letters
  whose start is rarely kept want a cooler response than letters whose start mostly is,
  so the best temperature differs between prompts of the family: a per-family selector
  cannot match a head that reads the letter.

The tag (a number below ``tags``) changes nothing about the task; it makes prompts many
and distinct. Training, validation and test prompts take disjoint tags
(:data:`TAG_SPLITS`), so a head is tested on prompts it never trained on and has to read
the topic or start letter from the context rather than recall a prompt.
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
# tag % 5 -> split: three fifths of the tags train the heads, one validates, one tests
TAG_SPLITS = {"train": (0, 1, 2), "val": (3,), "test": (4,)}
SPLITS = tuple(TAG_SPLITS)


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

    def probability(self, word_slots: Sequence[int]) -> float:
        """q(word): the product of its slots' Zipf weights (options by index)."""
        return float(np.prod(self.weights()[list(word_slots)]))

    def novelty(self, topic: int, word: str) -> float:
        """0 for an invalid word, else 1 - q(word) / q(the topic's most probable word)."""
        if not self.valid(topic, word):
            return 0.0
        syl = self.syllables()[topic]
        slots = [syl[s].index(word[2 * s : 2 * s + 2]) for s in range(self.slots)]
        return 1.0 - self.probability(slots) / self.probability([0] * self.slots)

    def mode(self, topic: int) -> str:
        """The topic's most probable word (first syllable of every slot)."""
        return "".join(slot[0] for slot in self.syllables()[topic])

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


def draw_tag(rng: np.random.Generator, tags: int, split: str | None) -> int:
    """A tag of ``split`` (any tag when ``split`` is None)."""
    if split is None:
        return int(rng.integers(tags))
    pool = [t for t in range(tags) if t % 5 in TAG_SPLITS[split]]
    return int(pool[int(rng.integers(len(pool)))])


def novel_prompts(
    grammar: Grammar, tags: int, n: int, seed: int, split: str | None = None
) -> list[Prompt]:
    rng = np.random.default_rng([seed, 202])
    syl, w = grammar.syllables(), grammar.weights()
    out = []
    for _ in range(n):
        t = int(rng.integers(grammar.topics))
        word = "".join(
            syl[t][s][int(rng.choice(grammar.options, p=w))] for s in range(grammar.slots)
        )
        tag = draw_tag(rng, tags, split)
        out.append(Prompt("novel", f"Invent: {topic_name(t)} {tag}", word, {"topic": t}))
    return out


def constraint_prompts(
    cfg: Mapping[str, Any], n: int, seed: int, split: str | None = None
) -> list[Prompt]:
    rng = np.random.default_rng([seed, 303])
    w = zipf(len(BODY_LETTERS), cfg["zipf_s"])
    out = []
    for _ in range(n):
        x = str(rng.choice(list(START_LETTERS)))
        keep = cfg["start_p"][START_LETTERS.index(x)]
        tag = draw_tag(rng, cfg["tags"], split)
        segs = []
        for _ in range(cfg["segments"]):
            start = x if rng.random() < keep else str(rng.choice(list(START_LETTERS)))
            body = "".join(BODY_LETTERS[int(rng.choice(len(w), p=w))] for _ in range(2))
            segs.append(start + body)
        text = f"Start: {x} {tag}"
        out.append(Prompt("constraint", text, " ".join(segs), {"start": x}))
    return out


@dataclass(frozen=True)
class Suite:
    """The three families as configured (``lpo.tasks``)."""

    cfg: Mapping[str, Any]

    @property
    def grammar(self) -> Grammar:
        g = self.cfg["novel"]
        return Grammar(g["topics"], g["slots"], g["options"], g["zipf_s"], 0)

    def prompts(
        self,
        family: str,
        n: int,
        seed: int,
        noise: float = 0.0,
        exclude: frozenset[str] = frozenset(),
        split: str | None = None,
    ) -> list[Prompt]:
        """``n`` prompts of ``family``. With ``exclude`` (prompt texts), verifiable prompts
        are distinct and none of them excluded (held out). The other families hold out by
        tag: ``split`` (train, val, test) draws only that split's tags."""
        if split is not None and split not in TAG_SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {list(SPLITS)}")
        if family == "exact" and exclude:
            return fresh_exact(self.cfg["exact"], n, seed, exclude)
        if family == "exact":
            return exact_prompts(self.cfg["exact"], n, seed, noise)
        if family == "novel":
            return novel_prompts(self.grammar, self.cfg["novel"]["tags"], n, seed, split)
        if family == "constraint":
            return constraint_prompts(self.cfg["constraint"], n, seed, split)
        raise ValueError(f"unknown task family {family!r}; allowed: {list(FAMILIES)}")

    def training_texts(self, n_per_family: int, seed: int) -> list[Prompt]:
        """The frozen model's training data: every family, exact with its noise."""
        noise = self.cfg["exact"]["noise"]
        return [p for f in FAMILIES for p in self.prompts(f, n_per_family, seed, noise)]

    def reward(self, prompt: Prompt, response: str) -> float:
        if prompt.family == "exact":
            return float(prompt.meta["example"].verify(response))
        if prompt.family == "novel":
            return self.grammar.novelty(prompt.meta["topic"], response)
        segs = response.split(" ")
        x = prompt.meta["start"]
        good = {s for s in segs if len(s) == 3 and s[0] == x and set(s[1:]) <= set(BODY_LETTERS)}
        n = self.cfg["constraint"]["segments"]
        return min(len(good), n) / max(n, len(segs))

    def constrained_positions(self, prompt: Prompt, response_tokens: Sequence[str]) -> list[bool]:
        """Per response token: does it start a segment (the constrained positions)?"""
        if prompt.family != "constraint":
            return [False] * len(response_tokens)
        out, at_start = [], True
        for tok in response_tokens:
            out.append(at_start and tok != " ")
            at_start = tok == " "
        return out
