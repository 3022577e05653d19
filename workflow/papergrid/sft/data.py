"""SFT data: the base model's packed plain-text corpus, one character vocabulary for every
chat template, and each run's chat-formatted pairs, epoch batches and per-skill evaluation.

Three choices answer the first design's review (docs/sft.md, "Protocol"):

- the base model trains on a packed stream cut into windows of the full context, so every
  position a chat-formatted answer can reach has had a gradient (plain examples alone end
  by position 68, and chat answers fall at 69-99);
- a share of the base documents end with a template's marker instead of the end token,
  so every marker has been seen, in a context that says nothing about chat turns;
- SFT runs whole epochs without replacement (:class:`EpochBatches`), so "trained for two
  epochs" means every example was seen twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from papergrid.lm.batches import Batch, pad_pairs
from papergrid.lm.data import tasks
from papergrid.lm.data.templates import TEMPLATES, get_template
from papergrid.lm.model import GPT
from papergrid.lm.sources import Prepared, batched_loss, greedy_responses
from papergrid.lm.tokenizer import EOS, PAD, Tokenizer

# disjoint generator seeds: base corpus, SFT data, test prompts, validation prompts
BASE_SEED, SFT_SEED, EVAL_SEED, VAL_SEED = 1, 3, 2, 4
N_VAL = 64  # validation pairs per skill for the teacher-forced loss during training


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
    """(train, held-out) plain texts ``prompt\nanswer`` of every skill, no chat format."""
    sizes = cfg["sizes"]
    train = training_examples(
        cfg["skills"], cfg["n_base_per_skill"], BASE_SEED, sizes, held_prompts(cfg)
    )
    val = eval_examples(cfg["skills"], N_VAL, sizes)
    return [tasks.plain_text(e) for e in train], [tasks.plain_text(e) for e in val]


def template_markers() -> list[str]:
    """Every marker of every template (the end token included), sorted."""
    return sorted({m for t in TEMPLATES.values() for m in t.specials})


@dataclass(frozen=True)
class PackedBatches:
    """Windows of ``seq_len + 1`` tokens of one stream of documents, each starting at a
    random document's start: a document at the window's start trains where a lone example
    would, the ones packed after it train every later position of the context
    (next-token loss on all)."""

    stream: np.ndarray
    starts: np.ndarray  # offsets of the documents' first tokens
    seq_len: int
    batch_size: int
    seed: int

    def __post_init__(self):
        usable = self.starts[self.starts < len(self.stream) - self.seq_len - 1]
        if usable.size == 0:
            raise ValueError(
                f"PackedBatches: a stream of {len(self.stream)} tokens is too short for "
                f"windows of {self.seq_len + 1}"
            )
        object.__setattr__(self, "starts", usable)

    def get(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, step])
        starts = self.starts[rng.integers(0, len(self.starts), self.batch_size)]
        rows = torch.from_numpy(np.stack([self.stream[i : i + self.seq_len + 1] for i in starts]))
        return Batch(rows[:, :-1], rows[:, 1:], None)


def base_stream(cfg: Mapping[str, Any], tok: Tokenizer, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, document starts) of the base corpus: the plain examples, shuffled, each
    followed by a separator that is the end token or, for ``marker_share`` of them, a
    template marker drawn uniformly. Every marker is thereby seen, and predicted, where a
    text ends, a context that says nothing about chat turns; the stop markers of chatml and
    llama3 are among them. (Whole conversations of small talk in each template cost the
    base model its copying skills: docs/sft.md.)"""
    train, _ = base_corpus(cfg)
    rng = np.random.default_rng([seed, 7])
    markers = template_markers()
    share = cfg["marker_share"]
    ids, starts = tok.encode(EOS), []
    for i in rng.permutation(len(train)):
        starts.append(len(ids) - 1)  # a window starts at the separator before a text
        sep = markers[int(rng.integers(len(markers)))] if rng.random() < share else EOS
        ids += tok.encode(train[i] + sep)
    return np.asarray(ids, dtype=np.int64), np.asarray(starts)


def base_prepared(
    cfg: Mapping[str, Any], tok: Tokenizer, batch_size: int, seed: int, seq_len: int
) -> Prepared:
    """Language modelling on the packed base corpus in windows of the full context
    ``seq_len``; the held-out loss is on plain examples of the test prompts' generator."""
    _, val = base_corpus(cfg)
    stream, starts = base_stream(cfg, tok, seed)
    start = [tok.id(EOS)]  # the end token doubles as the start of a document
    val_pairs = [(start, tok.encode(t + EOS)) for t in val]

    def evaluate(model: GPT) -> dict[str, float]:
        return {"val_loss": batched_loss(model, val_pairs, tok.id(PAD))}

    return Prepared(
        tok, PackedBatches(stream, starts, seq_len, batch_size, seed), evaluate, seq_len
    )


PLAIN = "plain"  # the zero-shot table's row for the base model's own format


def plain_accuracy(cfg: Mapping[str, Any], tok: Tokenizer, model: GPT) -> dict[str, float]:
    """The base model on the test and validation prompts in its own plain format (end
    token, prompt, newline; greedy, cut at the first marker, since pretraining ended texts
    with any of them): what it knows before any chat format, for the zero-shot table."""
    skills, sizes = cfg["skills"], cfg["sizes"]
    markers = template_markers()
    out: dict[str, float] = {}
    sets = {
        "": eval_examples(skills, cfg["n_eval_per_skill"], sizes),
        "val_": val_examples(skills, cfg["n_val_per_skill"], sizes),
    }
    for prefix, examples in sets.items():
        for s in skills:
            mine = [e for e in examples if e.skill == s]
            prompts = [tok.encode(EOS + e.prompt + "\n") for e in mine]
            budget = max(len(tok.encode(e.reference)) for e in mine) + 2
            got = [tok.decode(g) for g in greedy_responses(model, prompts, tok.id(EOS), budget)]
            for m in markers:
                got = [g.split(m)[0] for g in got]
            out[f"{prefix}acc_{s}"] = float(
                np.mean([e.verify(g) for e, g in zip(mine, got, strict=True)])
            )
        out[f"{prefix}acc_mean"] = float(np.mean([out[f"{prefix}acc_{s}"] for s in skills]))
    return out


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Whole batches per pass over ``n_examples`` (the last partial batch is dropped)."""
    if n_examples < batch_size:
        raise ValueError(f"{n_examples} examples do not fill one batch of {batch_size}")
    return n_examples // batch_size


@dataclass
class GradNorms:
    """The global gradient norm of each optimizer step, read without changing the shared
    trainer (an edit there would rerun every language-model experiment): the trainer fetches
    step s's batch before it clears step s-1's gradients, and evaluates after a step, so
    :meth:`see` called at both points reads each step's gradient once. With ``grad_clip``
    0 this is the pre-clip norm; with clipping it would be the clipped one."""

    model: Any = None
    pending: bool = False
    seen: list[float] = field(default_factory=list)

    def see(self) -> None:
        if self.pending and self.model is not None:
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            if grads:
                self.seen.append(
                    float(
                        torch.linalg.vector_norm(
                            torch.stack([torch.linalg.vector_norm(g) for g in grads])
                        )
                    )
                )
        self.pending = False

    def mean(self) -> float:
        """Mean norm since the last call (NaN before any step)."""
        out = float(np.mean(self.seen)) if self.seen else math.nan
        self.seen = []
        return out


@dataclass(frozen=True)
class EpochBatches:
    """SFT batches without replacement: epoch e is a permutation seeded by (seed, e), cut
    into whole batches. ``keep`` (one flag per pair) drops pairs from each batch without
    changing the others: a data ablation with the same seed trains on exactly the kept
    examples of the full run at the same steps (paired, the same exposure)."""

    pairs: Sequence[tuple[Sequence[int], Sequence[int]]]
    batch_size: int
    seed: int
    pad_id: int
    keep: Sequence[bool] | None = None
    norms: GradNorms | None = None

    def __post_init__(self):
        if self.keep is not None and len(self.keep) != len(self.pairs):
            raise ValueError("EpochBatches: one keep flag per pair")
        if self.keep is not None and not any(self.keep):
            raise ValueError("EpochBatches: every pair is left out")
        steps_per_epoch(len(self.pairs), self.batch_size)

    def indices(self, step: int) -> np.ndarray:
        per = steps_per_epoch(len(self.pairs), self.batch_size)
        epoch, k = divmod(step, per)
        perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))
        return perm[k * self.batch_size : (k + 1) * self.batch_size]

    def get(self, step: int) -> Batch:
        if self.norms is not None:
            self.norms.see()
            self.norms.pending = True
        idx = self.indices(step)
        if self.keep is not None:
            idx = [i for i in idx if self.keep[i]]
            if not idx:  # every example of the batch was left out
                pad = torch.full((1, 1), self.pad_id, dtype=torch.long)
                return Batch(pad, pad.clone(), torch.zeros((1, 1)))
        return pad_pairs([self.pairs[i] for i in idx], self.pad_id)


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
    are trained on (the others are dropped from each batch: see :class:`EpochBatches`);
    loss on the assistant turn and its end token.

    The curve's ``val_loss`` is the teacher-forced loss on validation prompts (64 per
    skill) and ``grad_norm`` the mean gradient norm since the last evaluation. The final
    evaluation decodes greedily and applies each skill's verifier, on the test prompts
    (``acc_*``, and ``acc_mean_a`` / ``acc_mean_b`` on the even and odd halves of each
    skill's test prompts: two independent readings of the same run) and on the validation
    prompts (``val_acc_*``)."""
    tpl = get_template(template)
    sizes = cfg["sizes"]
    held = eval_examples(eval_skills, cfg["n_eval_per_skill"], sizes)
    val = val_examples(eval_skills, cfg["n_val_per_skill"], sizes)
    train = training_examples(
        eval_skills, cfg["n_sft_per_skill"], SFT_SEED, sizes, held_prompts(cfg)
    )

    def encode(e):
        return tok.encode(tpl.prompt(e.prompt)), tok.encode(e.reference + tpl.stop)

    curve_val = [encode(e) for s in eval_skills for e in [v for v in val if v.skill == s][:N_VAL]]
    stop, pad = tok.id(tpl.stop), tok.id(PAD)
    norms = GradNorms()

    def evaluate(model: GPT) -> dict[str, float]:
        norms.model = model
        norms.see()
        return {"val_loss": batched_loss(model, curve_val, pad), "grad_norm": norms.mean()}

    def correct(model: GPT, examples: Sequence) -> np.ndarray:
        pairs = [encode(e) for e in examples]
        budget = max(len(r) for _, r in pairs) + 2
        got = greedy_responses(model, [p for p, _ in pairs], stop, budget)
        return np.array([e.verify(tok.decode(g)) for e, g in zip(examples, got, strict=True)])

    def final(model: GPT) -> dict[str, float]:
        out: dict[str, float] = {}
        halves: dict[str, list[float]] = {"a": [], "b": []}
        for s in eval_skills:
            ok = correct(model, [e for e in held if e.skill == s])
            out[f"acc_{s}"] = float(ok.mean())
            halves["a"].append(float(ok[0::2].mean()))
            halves["b"].append(float(ok[1::2].mean()))
            out[f"val_acc_{s}"] = float(correct(model, [e for e in val if e.skill == s]).mean())
        for p in ("", "val_"):
            out[f"{p}acc_mean"] = float(np.mean([out[f"{p}acc_{s}"] for s in eval_skills]))
        out.update({f"acc_mean_{h}": float(np.mean(v)) for h, v in halves.items()})
        return out

    kept = set(skills)
    return Prepared(
        tok,
        EpochBatches(
            [encode(e) for e in train],
            batch_size,
            seed,
            pad,
            keep=None if kept >= set(eval_skills) else [e.skill in kept for e in train],
            norms=norms,
        ),
        evaluate,
        0,
        {"template": template, "n_train": sum(e.skill in kept for e in train)},
        final,
    )
