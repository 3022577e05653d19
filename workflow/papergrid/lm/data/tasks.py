"""Small verifiable tasks for post-training: each example has a prompt, a reference
answer and a verifier that decides whether a response is correct.

Skills:
- addition: "What is 317+48?" -> "365"; correct if the last number in the response
  equals the sum (the GSM8K rule in Tülu 3's verifier).
- sort: "Sort: 5 3 9 1" -> "1 3 5 9"; exact match after trimming spaces.
- reverse: "Reverse: kqzv" -> "vkqz"; exact match after trimming spaces.
- format: "Write kqz 3 times in upper case, separated by semicolon" -> "KQZ;KQZ;KQZ";
  correct if every constraint (count, case, separator) holds (an IFEval-style checker).
  The word is a random three-letter string: a fixed word list gave so few distinct
  prompts (a few hundred) that 500 held-out prompts left almost none to train on.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SKILLS = ("addition", "sort", "reverse", "format")
WORD_LEN = 3  # letters of the format task's word
SEPARATORS = {"comma": ",", "semicolon": ";", "dash": "-"}


@dataclass(frozen=True)
class TaskExample:
    skill: str
    prompt: str
    reference: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def verify(self, response: str) -> bool:
        return VERIFIERS[self.skill](self, response)


def _addition(rng: np.random.Generator, max_digits: int) -> TaskExample:
    a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, max_digits + 1)))) for _ in range(2))
    return TaskExample("addition", f"What is {a}+{b}?", str(a + b), {"a": a, "b": b})


def _sort(rng: np.random.Generator, max_len: int) -> TaskExample:
    xs = [int(v) for v in rng.integers(0, 10, size=int(rng.integers(2, max_len + 1)))]
    return TaskExample("sort", "Sort: " + " ".join(map(str, xs)), " ".join(map(str, sorted(xs))))


def _reverse(rng: np.random.Generator, max_len: int) -> TaskExample:
    n = int(rng.integers(2, max_len + 1))
    s = "".join(rng.choice(list(string.ascii_lowercase), size=n))
    return TaskExample("reverse", f"Reverse: {s}", s[::-1])


def _format(rng: np.random.Generator, max_count: int) -> TaskExample:
    word = "".join(rng.choice(list(string.ascii_lowercase), size=WORD_LEN))
    count = int(rng.integers(2, max_count + 1))
    case = str(rng.choice(["upper", "lower"]))
    sep_name = str(rng.choice(sorted(SEPARATORS)))
    sep = SEPARATORS[sep_name]
    cased = word.upper() if case == "upper" else word
    prompt = f"Write {word} {count} times in {case} case, separated by {sep_name}"
    meta = {"word": word, "count": count, "case": case, "sep": sep}
    return TaskExample("format", prompt, sep.join([cased] * count), meta)


GENERATORS: dict[str, Callable[[np.random.Generator, int], TaskExample]] = {
    "addition": _addition,
    "sort": _sort,
    "reverse": _reverse,
    "format": _format,
}
DEFAULT_SIZE = {"addition": 3, "sort": 6, "reverse": 6, "format": 4}


def last_number(text: str) -> str | None:
    found = re.findall(r"-?\d+", text)
    return found[-1] if found else None


def _verify_addition(ex: TaskExample, response: str) -> bool:
    return last_number(response) == ex.reference


def _verify_exact(ex: TaskExample, response: str) -> bool:
    return response.strip() == ex.reference


def _verify_format(ex: TaskExample, response: str) -> bool:
    parts = response.strip().split(ex.meta["sep"])
    word = ex.meta["word"]
    want = word.upper() if ex.meta["case"] == "upper" else word.lower()
    return len(parts) == ex.meta["count"] and all(p == want for p in parts)


VERIFIERS: dict[str, Callable[[TaskExample, str], bool]] = {
    "addition": _verify_addition,
    "sort": _verify_exact,
    "reverse": _verify_exact,
    "format": _verify_format,
}


def generate(skill: str, n: int, seed: int, size: int | None = None) -> list[TaskExample]:
    """``n`` examples of ``skill``, deterministic in ``seed``; ``size`` bounds difficulty
    (digits for addition, list or string length, repetitions for format)."""
    if skill not in GENERATORS:
        raise ValueError(f"unknown skill {skill!r}; allowed: {list(SKILLS)}")
    rng = np.random.default_rng([seed, SKILLS.index(skill)])
    size = DEFAULT_SIZE[skill] if size is None else size
    return [GENERATORS[skill](rng, size) for _ in range(n)]


def plain_text(ex: TaskExample) -> str:
    """The example without chat formatting (pretraining text for a base model)."""
    return f"{ex.prompt}\n{ex.reference}"
