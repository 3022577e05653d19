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

# disjoint generator seeds: base corpus, SFT data, evaluation prompts
BASE_SEED, SFT_SEED, EVAL_SEED = 1, 3, 2
N_VAL = 64  # held-out pairs per skill for the teacher-forced loss during training


def eval_examples(skills: Sequence[str], n: int, sizes: Mapping[str, int]) -> list:
    return [e for s in skills for e in tasks.generate(s, n, EVAL_SEED, sizes[s])]


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
    held = {e.prompt for e in eval_examples(cfg["skills"], cfg["n_eval_per_skill"], sizes)}
    train = training_examples(cfg["skills"], cfg["n_base_per_skill"], BASE_SEED, sizes, held)
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
    """Chat-formatted pairs of ``skills`` (loss on the assistant turn and its end token);
    the final evaluation decodes greedily and applies each skill's verifier."""
    tpl = get_template(template)
    sizes = cfg["sizes"]
    held = eval_examples(eval_skills, cfg["n_eval_per_skill"], sizes)
    train = training_examples(
        skills, cfg["n_sft_per_skill"], SFT_SEED, sizes, {e.prompt for e in held}
    )

    def encode(e):
        return tok.encode(tpl.prompt(e.prompt)), tok.encode(e.reference + tpl.stop)

    held_pairs = [encode(e) for e in held]
    rng = np.random.default_rng(0)
    by_skill = {s: [i for i, e in enumerate(held) if e.skill == s] for s in eval_skills}
    val_idx = [i for s in eval_skills for i in rng.permutation(by_skill[s])[:N_VAL]]
    val_pairs = [held_pairs[i] for i in sorted(val_idx)]
    stop, pad = tok.id(tpl.stop), tok.id(PAD)
    max_new = {s: max(len(held_pairs[i][1]) for i in idx) + 2 for s, idx in by_skill.items()}

    def evaluate(model: GPT) -> dict[str, float]:
        return {"val_loss": batched_loss(model, val_pairs, pad)}

    def final(model: GPT) -> dict[str, float]:
        out = {}
        for s, idx in by_skill.items():
            got = greedy_responses(model, [held_pairs[i][0] for i in idx], stop, max_new[s])
            out[f"acc_{s}"] = float(
                np.mean([held[i].verify(tok.decode(g)) for i, g in zip(idx, got, strict=True)])
            )
        out["acc_mean"] = float(np.mean([out[f"acc_{s}"] for s in eval_skills]))
        return out

    return Prepared(
        tok,
        PairBatches([encode(e) for e in train], batch_size, seed, pad),
        evaluate,
        0,
        {"template": template, "n_train": len(train)},
        final,
    )
