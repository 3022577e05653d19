"""SFT data: the base model's plain-text corpus, one character vocabulary for every chat
template, and each run's chat-formatted pairs and per-skill evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from papergrid.lm.batches import PairBatches
from papergrid.lm.data import tasks
from papergrid.lm.data.templates import TEMPLATES, get_template
from papergrid.lm.model import GPT
from papergrid.lm.sources import Prepared, batched_loss, greedy_responses
from papergrid.lm.tokenizer import EOS, PAD, Tokenizer

# disjoint generator seeds: base corpus, SFT data, test prompts, validation prompts
BASE_SEED, SFT_SEED, EVAL_SEED, VAL_SEED = 1, 3, 2, 4
N_VAL = 64  # held-out pairs per skill for the teacher-forced loss during training


def eval_examples(skills: Sequence[str], n: int, sizes: Mapping[str, int]) -> list:
    """The test prompts: ``n`` per skill, scored once a run has finished."""
    return [e for s in skills for e in tasks.generate(s, n, EVAL_SEED, sizes[s])]


def val_examples(skills: Sequence[str], n: int, sizes: Mapping[str, int]) -> list:
    """Validation prompts, disjoint from the test prompts: decisions such as which parent
    of a soup is the better one are made here, so the test set judges them unbiased."""
    test = {e.prompt for e in eval_examples(skills, n, sizes)}
    out = []
    for s in skills:
        pool = [e for e in tasks.generate(s, 2 * n, VAL_SEED, sizes[s]) if e.prompt not in test]
        out += pool[:n]
    return out


def held_prompts(cfg: Mapping[str, Any]) -> set[str]:
    """Every prompt SFT and the base model must not train on: test and validation."""
    skills, sizes = cfg["skills"], cfg["sizes"]
    test = eval_examples(skills, cfg["n_eval_per_skill"], sizes)
    val = val_examples(skills, cfg["n_val_per_skill"], sizes)
    return {e.prompt for e in test + val}


def training_examples(
    skills: Sequence[str], n: int, seed: int, sizes: Mapping[str, int], exclude: set[str]
) -> list:
    """``n`` examples per skill whose prompts are not evaluation prompts."""
    out = []
    for s in skills:
        pool = [e for e in tasks.generate(s, 2 * n, seed, sizes[s]) if e.prompt not in exclude]
        out += pool[:n]
    return out


def build_tokenizer(texts: Sequence[str]) -> Tokenizer:
    """Characters of ``texts`` and of every template, each template's markers atomic."""
    specials = [PAD, EOS]
    for t in TEMPLATES.values():
        specials += [s for s in t.specials if s not in specials]
    probe = [
        t.render([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])
        for t in TEMPLATES.values()
    ]
    return Tokenizer.build("char", list(texts) + probe, specials=specials)


def base_corpus(cfg: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(train, held-out) plain texts ``prompt\\nanswer`` of every skill, no chat format."""
    sizes = cfg["sizes"]
    train = training_examples(
        cfg["skills"], cfg["n_base_per_skill"], BASE_SEED, sizes, held_prompts(cfg)
    )
    val = eval_examples(cfg["skills"], N_VAL, sizes)
    return [tasks.plain_text(e) for e in train], [tasks.plain_text(e) for e in val]


def base_prepared(cfg: Mapping[str, Any], tok: Tokenizer, batch_size: int, seed: int) -> Prepared:
    """Plain-text language modelling: every token after the start token counts."""
    train, val = base_corpus(cfg)
    start = [tok.id(EOS)]  # the end token doubles as the start of a document

    def pairs(texts):
        return [(start, tok.encode(t + EOS)) for t in texts]

    val_pairs = pairs(val)

    def evaluate(model: GPT) -> dict[str, float]:
        return {"val_loss": batched_loss(model, val_pairs, tok.id(PAD))}

    return Prepared(tok, PairBatches(pairs(train), batch_size, seed, tok.id(PAD)), evaluate, 0)


def sft_prepared(
    cfg: Mapping[str, Any],
    tok: Tokenizer,
    template: str,
    skills: Sequence[str],
    eval_skills: Sequence[str],
    batch_size: int,
    seed: int,
) -> Prepared:
    """Chat-formatted pairs of every skill in ``eval_skills``, of which only ``skills``
    are trained on (the others are left out of each batch: see
    :class:`~papergrid.lm.batches.PairBatches`); loss on the assistant turn and its end
    token. The final evaluation decodes greedily and applies each skill's verifier, on the
    test prompts (``acc_*``) and on the validation prompts (``val_acc_*``)."""
    tpl = get_template(template)
    sizes = cfg["sizes"]
    held = eval_examples(eval_skills, cfg["n_eval_per_skill"], sizes)
    val = val_examples(eval_skills, cfg["n_val_per_skill"], sizes)
    train = training_examples(
        eval_skills, cfg["n_sft_per_skill"], SFT_SEED, sizes, held_prompts(cfg)
    )

    def encode(e):
        return tok.encode(tpl.prompt(e.prompt)), tok.encode(e.reference + tpl.stop)

    held_pairs = [encode(e) for e in held]
    rng = np.random.default_rng(0)
    by_skill = {s: [i for i, e in enumerate(held) if e.skill == s] for s in eval_skills}
    val_idx = [i for s in eval_skills for i in rng.permutation(by_skill[s])[:N_VAL]]
    val_pairs = [held_pairs[i] for i in sorted(val_idx)]
    stop, pad = tok.id(tpl.stop), tok.id(PAD)

    def evaluate(model: GPT) -> dict[str, float]:
        return {"val_loss": batched_loss(model, val_pairs, pad)}

    def accuracy(model: GPT, examples: Sequence, prefix: str) -> dict[str, float]:
        out = {}
        for s in eval_skills:
            mine = [e for e in examples if e.skill == s]
            pairs = [encode(e) for e in mine]
            budget = max(len(r) for _, r in pairs) + 2
            got = greedy_responses(model, [p for p, _ in pairs], stop, budget)
            out[f"{prefix}acc_{s}"] = float(
                np.mean([e.verify(tok.decode(g)) for e, g in zip(mine, got, strict=True)])
            )
        out[f"{prefix}acc_mean"] = float(np.mean([out[f"{prefix}acc_{s}"] for s in eval_skills]))
        return out

    def final(model: GPT) -> dict[str, float]:
        return {**accuracy(model, held, ""), **accuracy(model, val, "val_")}

    kept = set(skills)
    return Prepared(
        tok,
        PairBatches(
            [encode(e) for e in train],
            batch_size,
            seed,
            pad,
            keep=None if kept >= set(eval_skills) else [e.skill in kept for e in train],
        ),
        evaluate,
        0,
        {"template": template, "n_train": sum(e.skill in kept for e in train)},
        final,
    )
