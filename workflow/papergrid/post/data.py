"""Preference pairs and RL prompts from the task suite, for post-training an SFT model.

Prompt pools, disjoint from the SFT test and validation prompts:
- ``unused``: new prompts, never seen in SFT (drawn with their own generator seed, every
  SFT training, test and validation prompt excluded);
- ``reused``: prompts of the SFT training data.

Pairs (prompt, chosen, rejected), chosen verified correct and rejected verified wrong:
- off-policy: chosen = the task's reference answer, rejected = a corruption of it (one
  character substituted, re-drawn until the verifier rejects it), the same length;
- on-policy (Tülu 3: at least one response from the SFT model): from
  ``samples_per_prompt`` samples of the SFT model at temperature 1, the first correct one
  as chosen and the first wrong one as rejected; where the samples are all wrong the
  reference answer is chosen, where they are all right a corruption is rejected (how many
  pairs have both sides sampled is recorded);
- length confounds: ``chosen_longer`` rejects the reference truncated by one to two
  characters, ``rejected_longer`` rejects it with one to two characters appended.

Arms, each of exactly ``n_pairs`` pairs: ``mixed`` (half on-, half off-policy, unused
prompts: the main arm), ``off_policy``, ``on_policy``, ``duplicated`` (the mixed
composition on half as many prompts, each giving one on- and one off-policy pair),
``reused`` (the mixed composition on reused SFT prompts), ``chosen_longer`` and
``rejected_longer`` (off-policy pairs under a length confound).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from papergrid.lm.data import tasks
from papergrid.sft.data import SFT_SEED, held_prompts, training_examples

POST_SEED = 5  # generator seed of the unused prompt pool (SFT uses 1-4)
ARMS = (
    "mixed",
    "off_policy",
    "on_policy",
    "duplicated",
    "reused",
    "chosen_longer",
    "rejected_longer",
)
LENGTH_BIASES = {"chosen_longer": "truncate", "rejected_longer": "append"}


@dataclass(frozen=True)
class Pair:
    prompt: str  # the task prompt (rendered through the template when encoded)
    skill: str
    chosen: str
    rejected: str
    kind: str  # on | off


@dataclass
class PromptPools:
    unused: list[tasks.TaskExample]
    reused: list[tasks.TaskExample]


def prompt_pools(sft_data: Mapping[str, Any], n_unused: int, n_reused: int) -> PromptPools:
    """``n_unused`` / ``n_reused`` prompts per skill of the SFT data's skills."""
    skills, sizes = sft_data["skills"], sft_data["sizes"]
    sft_train = training_examples(
        skills, sft_data["n_sft_per_skill"], SFT_SEED, sizes, held_prompts(sft_data)
    )
    banned = held_prompts(sft_data) | {e.prompt for e in sft_train}
    unused = []
    for s in skills:
        pool = [
            e
            for e in tasks.generate(s, 4 * n_unused, POST_SEED, sizes[s])
            if e.prompt not in banned
        ]
        unique = list({e.prompt: e for e in pool}.values())
        unused += unique[:n_unused]
    rng = np.random.default_rng(POST_SEED)
    reused = []
    for s in skills:
        mine = list({e.prompt: e for e in sft_train if e.skill == s}.values())
        reused += [mine[i] for i in sorted(rng.permutation(len(mine))[:n_reused])]
    return PromptPools(unused, reused)


def _alphabet(char: str, allowed: str | None) -> list[str]:
    """Characters of the same class as ``char`` (digit, lower, upper case), within the
    vocabulary when ``allowed`` is given."""
    if char.isdigit():
        pool = string.digits
    elif char.isupper():
        pool = string.ascii_uppercase
    else:
        pool = string.ascii_lowercase
    same = [c for c in pool if c != char and (allowed is None or c in allowed)]
    # a class missing from the vocabulary: any other letter or digit it has
    return same or [c for c in (allowed or "") if c.isalnum() and c != char] or [char]


def corrupt(
    example: tasks.TaskExample, how: str, rng: np.random.Generator, allowed: str | None = None
) -> str:
    """A wrong answer derived from the reference: ``substitute`` one character (the same
    length), ``truncate`` one or two characters, or ``append`` one or two; re-drawn until
    the verifier rejects it. New characters keep the class of the ones they replace or
    follow, and come from ``allowed`` (the vocabulary) when given."""
    ref = example.reference
    for _ in range(100):
        if how == "substitute":
            i = int(rng.choice([j for j, c in enumerate(ref) if c.isalnum()]))
            out = ref[:i] + str(rng.choice(_alphabet(ref[i], allowed))) + ref[i + 1 :]
        elif how == "truncate":
            out = ref[: max(1, len(ref) - int(rng.integers(1, 3)))]
        elif how == "append":
            extra = rng.choice(_alphabet(ref[-1], allowed), size=int(rng.integers(1, 3)))
            out = ref + "".join(extra)
        else:
            raise ValueError(f"unknown corruption {how!r}")
        if not example.verify(out):
            return out
    raise RuntimeError(f"no wrong answer found for {example.prompt!r} by {how}")


@dataclass
class OnPolicy:
    """Per sampled prompt: its first correct and first wrong sample, where there was one."""

    chosen: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    sampled: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        both = sum(p in self.chosen and p in self.rejected for p in self.sampled)
        return {
            "both_sampled": both,
            "all_wrong": sum(p not in self.chosen for p in self.sampled),
            "all_right": sum(p not in self.rejected for p in self.sampled),
        }


def label_samples(
    examples: Sequence[tasks.TaskExample], responses: Sequence[Sequence[str]]
) -> OnPolicy:
    """Verify ``responses[i]`` (the samples of example i); keep the first right and the
    first wrong one."""
    out = OnPolicy()
    for ex, samples in zip(examples, responses, strict=True):
        out.sampled.add(ex.prompt)
        right = [r for r in samples if ex.verify(r)]
        wrong = [r for r in samples if not ex.verify(r)]
        if right:
            out.chosen[ex.prompt] = right[0]
        if wrong:
            out.rejected[ex.prompt] = wrong[0]
    return out


def _off_pair(ex: tasks.TaskExample, how: str, rng, allowed: str | None = None) -> Pair:
    return Pair(ex.prompt, ex.skill, ex.reference, corrupt(ex, how, rng, allowed), "off")


def _on_pair(ex: tasks.TaskExample, on: OnPolicy, rng, allowed: str | None = None) -> Pair:
    """At least one side sampled from the SFT model (see the module docstring)."""
    chosen = on.chosen.get(ex.prompt, ex.reference)
    rejected = on.rejected.get(ex.prompt) or corrupt(ex, "substitute", rng, allowed)
    return Pair(ex.prompt, ex.skill, chosen, rejected, "on")


def _balanced(examples: Sequence[tasks.TaskExample], n: int, rng) -> list[tasks.TaskExample]:
    """``n`` examples drawn round-robin over skills (in a seeded order), so every arm has
    the same skill mix as far as the pool allows."""
    by_skill: dict[str, list] = {}
    for e in examples:
        by_skill.setdefault(e.skill, []).append(e)
    for v in by_skill.values():
        rng.shuffle(v)
    out: list = []
    while len(out) < n and any(by_skill.values()):
        for s in sorted(by_skill):
            if by_skill[s] and len(out) < n:
                out.append(by_skill[s].pop())
    if len(out) < n:
        raise ValueError(f"only {len(out)} prompts available for {n} pairs")
    return out


def build_arms(
    pools: PromptPools,
    on_unused: OnPolicy,
    on_reused: OnPolicy,
    n_pairs: int,
    seed: int,
    arms: Sequence[str] = ARMS,
    allowed: str | None = None,
) -> dict[str, list[Pair]]:
    """Every arm's ``n_pairs`` pairs (see the module docstring); corruptions use only the
    characters in ``allowed`` (the tokenizer's)."""
    rng = np.random.default_rng([seed, 17])

    def on_pair(ex, on):
        return _on_pair(ex, on, rng, allowed)

    def off_pair(ex, how, rng_=rng):
        return _off_pair(ex, how, rng_, allowed)

    half = n_pairs // 2
    out: dict[str, list[Pair]] = {}
    if "mixed" in arms or "duplicated" in arms:
        on_part = _balanced(pools.unused, half, rng)
        taken = {e.prompt for e in on_part}
        off_part = _balanced(
            [e for e in pools.unused if e.prompt not in taken], n_pairs - half, rng
        )
        if "mixed" in arms:
            out["mixed"] = [on_pair(e, on_unused) for e in on_part] + [
                off_pair(e, "substitute", rng) for e in off_part
            ]
        if "duplicated" in arms:
            out["duplicated"] = [on_pair(e, on_unused) for e in on_part] + [
                off_pair(e, "substitute", rng) for e in on_part
            ][: n_pairs - half]
    if "off_policy" in arms:
        out["off_policy"] = [
            off_pair(e, "substitute", rng) for e in _balanced(pools.unused, n_pairs, rng)
        ]
    if "on_policy" in arms:
        out["on_policy"] = [on_pair(e, on_unused) for e in _balanced(pools.unused, n_pairs, rng)]
    if "reused" in arms:
        on_part = _balanced(pools.reused, half, rng)
        taken = {e.prompt for e in on_part}
        off_part = _balanced(
            [e for e in pools.reused if e.prompt not in taken], n_pairs - half, rng
        )
        out["reused"] = [on_pair(e, on_reused) for e in on_part] + [
            off_pair(e, "substitute", rng) for e in off_part
        ]
    for arm, how in LENGTH_BIASES.items():
        if arm in arms:
            # a one-character answer has no shorter wrong version
            fit = [e for e in pools.unused if how != "truncate" or len(e.reference) > 1]
            out[arm] = [off_pair(e, how, rng) for e in _balanced(fit, n_pairs, rng)]
    for arm, pairs in out.items():
        order = rng.permutation(len(pairs))
        out[arm] = [pairs[i] for i in order]
    return out
