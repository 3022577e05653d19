"""Each data source prepared for training: tokenizer, batches, an evaluator, context size.

Experiments build on these rather than on the raw generators, so that "SCAN as a prefix
language model" or "tasks rendered through a chat template" means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from papergrid.lm.batches import MarkovStreamBatches, PairBatches, StreamBatches, pad_pairs
from papergrid.lm.data import scan, tasks
from papergrid.lm.data.markov import MarkovSource
from papergrid.lm.data.templates import get_template
from papergrid.lm.model import GPT
from papergrid.lm.tokenizer import EOS, PAD, SEP, Tokenizer

SOURCES = ("markov", "scan", "scan_composition", "tasks")


@dataclass
class Prepared:
    tokenizer: Tokenizer
    batches: Any  # StreamBatches | PairBatches
    evaluate: Callable[[GPT], dict[str, float]]
    block_size: int
    meta: dict[str, Any] = field(default_factory=dict)
    # run once after training (greedy decoding of every test split, say): too slow per eval
    final: Callable[[GPT], dict[str, float]] | None = None


def batched_loss(model: GPT, pairs: Sequence, pad_id: int, batch: int = 128) -> float:
    """Mean loss over the response tokens of every pair (token-weighted)."""
    total, count = 0.0, 0.0
    device = next(model.parameters()).device
    for i in range(0, len(pairs), batch):
        b = pad_pairs(pairs[i : i + batch], pad_id)
        _, loss = model(
            b.x.to(device), b.y.to(device), loss_mask=b.mask.to(device), reduction="sum"
        )
        total += loss.item()
        count += b.mask.sum().item()
    return total / count


def greedy_responses(
    model: GPT, prompts: Sequence[Sequence[int]], stop_id: int, max_new: int
) -> list[list[int]]:
    """Greedy continuations up to (not including) ``stop_id``, batched by prompt length."""
    device = next(model.parameters()).device
    out: list[list[int] | None] = [None] * len(prompts)
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for length, idxs in by_len.items():
        budget = min(max_new, model.cfg.block_size - length)
        x = torch.tensor([list(prompts[i]) for i in idxs], device=device)
        gen = model.generate(x, budget, temperature=0, eos_id=stop_id)[:, length:].tolist()
        for i, seq in zip(idxs, gen, strict=True):
            out[i] = seq[: seq.index(stop_id)] if stop_id in seq else seq
    return out  # type: ignore[return-value]


def markov(cfg: Mapping[str, Any], batch_size: int, seed: int) -> Prepared:
    src = MarkovSource(
        cfg["vocab"],
        cfg["order"],
        cfg["branching"],
        cfg["zipf_s"],
        cfg["smoothing"],
        seed=cfg["table_seed"],
    )
    if cfg["n_train"] is None:  # generated step by step
        batches = MarkovStreamBatches(src, cfg["seq_len"], batch_size, 1_000 + seed)
    else:
        train = src.sample(cfg["n_train"], cfg["seq_len"] + 1, seed=1_000 + seed)
        batches = StreamBatches(train, batch_size, seed)
    val = torch.from_numpy(src.sample(cfg["n_val"], cfg["seq_len"] + 1, seed=2_000_000))
    # targets from position order-1 on have their full context: their floor is the entropy rate
    mask = (torch.arange(cfg["seq_len"]) >= src.order - 1).float().expand(len(val), -1)

    def evaluate(model: GPT) -> dict[str, float]:
        device = next(model.parameters()).device
        v = val.to(device)
        _, loss = model(v[:, :-1], v[:, 1:], loss_mask=mask.to(device))
        return {"val_loss": loss.item()}

    tok = Tokenizer("symbol", tuple(f"s{i}" for i in range(src.vocab)))
    # the loss the true source itself gets on these very sequences and targets: the exact
    # floor of val_loss (the entropy rate is its expectation)
    val_floor = float(-src.log_prob(val.numpy()).mean())
    meta = {
        "entropy_floor": src.entropy_rate,
        "val_floor": val_floor,
        "unigram": src.unigram_entropy,
    }
    return Prepared(tok, batches, evaluate, cfg["seq_len"], meta)


def scan_pairs(tok: Tokenizer, examples: Sequence[scan.Example]):
    return [(tok.encode(f"{e.command} {SEP}"), tok.encode(f"{e.actions} {EOS}")) for e in examples]


def scan_source(cfg: Mapping[str, Any], batch_size: int, seed: int) -> Prepared:
    train, test = scan.split(cfg["split"], seed=cfg["split_seed"], extra_jump=cfg["extra_jump"])
    tok = Tokenizer.build("word", [f"{e.command} {e.actions}" for e in scan.all_examples()])
    rng = np.random.default_rng(cfg["split_seed"])
    held = [test[i] for i in rng.permutation(len(test))[: cfg["n_eval"]]]
    held_pairs = scan_pairs(tok, held)
    stop = tok.id(EOS)

    def evaluate(model: GPT) -> dict[str, float]:
        got = greedy_responses(model, [p for p, _ in held_pairs], stop, max_new=50)
        exact = np.mean([g == r[:-1] for g, (_, r) in zip(got, held_pairs, strict=True)])
        return {"val_loss": batched_loss(model, held_pairs, tok.id(PAD)), "accuracy": float(exact)}

    return Prepared(
        tok,
        PairBatches(scan_pairs(tok, train), batch_size, seed, tok.id(PAD)),
        evaluate,
        64,
        {"n_train": len(train), "n_test": len(test)},
    )


def exact_match(model: GPT, pairs: Sequence, stop_id: int, max_new: int = 50) -> float:
    """Share of prompts whose greedy continuation equals the reference (without its end)."""
    got = greedy_responses(model, [p for p, _ in pairs], stop_id, max_new=max_new)
    return float(np.mean([g == list(r[:-1]) for g, (_, r) in zip(got, pairs, strict=True)]))


def scan_composition_source(cfg: Mapping[str, Any], batch_size: int, seed: int) -> Prepared:
    """SCAN as a prefix LM on :func:`scan.composition_split`: one model, every test split.

    Evaluations during training are teacher-forced losses (cheap); the final evaluation
    adds greedy exact match on up to ``n_eval`` commands of each test split (None: all).
    """
    train, tests = scan.composition_split(
        seed=cfg["split_seed"],
        extra_jump=cfg["extra_jump"],
        max_train_actions=cfg["max_train_actions"],
        id_fraction=cfg["id_fraction"],
        extra_weighting=cfg["extra_weighting"],
    )
    tok = Tokenizer.build("word", [f"{e.command} {e.actions}" for e in scan.all_examples()])
    rng = np.random.default_rng(cfg["split_seed"])
    n_eval = cfg["n_eval"]  # None scores every test command
    held = {
        name: scan_pairs(tok, [ex[i] for i in sorted(rng.permutation(len(ex))[:n_eval])])
        for name, ex in tests.items()
    }
    pad, stop = tok.id(PAD), tok.id(EOS)

    def evaluate(model: GPT) -> dict[str, float]:
        out = {"val_loss": batched_loss(model, held["id"], pad)}
        out.update({f"loss_{n}": batched_loss(model, p, pad) for n, p in held.items() if n != "id"})
        return out

    def final(model: GPT) -> dict[str, float]:
        return {f"acc_{n}": exact_match(model, p, stop) for n, p in held.items()}

    block = max(len(p) + len(r) for p, r in scan_pairs(tok, scan.all_examples()))
    return Prepared(
        tok,
        PairBatches(scan_pairs(tok, train), batch_size, seed, pad),
        evaluate,
        block,
        {"n_train": len(train), **{f"n_test_{n}": len(t) for n, t in tests.items()}},
        final,
    )


def tasks_source(cfg: Mapping[str, Any], batch_size: int, seed: int) -> Prepared:
    template = get_template(cfg["template"])
    skills = cfg["skills"]
    train = [e for s in skills for e in tasks.generate(s, cfg["n_train_per_skill"], seed=1)]
    held = [e for s in skills for e in tasks.generate(s, cfg["n_eval_per_skill"], seed=2)]
    texts = [template.prompt(e.prompt) + e.reference + template.stop for e in train + held]
    tok = Tokenizer.build("char", texts, specials=(PAD, EOS, *template.specials))

    def encode(e):
        return tok.encode(template.prompt(e.prompt)), tok.encode(e.reference + template.stop)

    held_pairs = [encode(e) for e in held]
    stop = tok.id(template.stop)

    def evaluate(model: GPT) -> dict[str, float]:
        got = greedy_responses(model, [p for p, _ in held_pairs], stop, max_new=40)
        correct = [e.verify(tok.decode(g)) for e, g in zip(held, got, strict=True)]
        per_skill = {
            s: np.mean([c for c, e in zip(correct, held, strict=True) if e.skill == s])
            for s in skills
        }
        return {
            "val_loss": batched_loss(model, held_pairs, tok.id(PAD)),
            "accuracy": float(np.mean(list(per_skill.values()))),
        }

    block = max(len(p) + len(r) for p, r in (encode(e) for e in train + held))
    return Prepared(
        tok,
        PairBatches([encode(e) for e in train], batch_size, seed, tok.id(PAD)),
        evaluate,
        block,
        {"template": template.name},
    )


def prepare(source: str, cfg: Mapping[str, Any], batch_size: int, seed: int) -> Prepared:
    builders = {
        "markov": markov,
        "scan": scan_source,
        "scan_composition": scan_composition_source,
        "tasks": tasks_source,
    }
    if source not in builders:
        raise ValueError(f"unknown source {source!r}; allowed: {list(SOURCES)}")
    return builders[source](cfg, batch_size, seed)
