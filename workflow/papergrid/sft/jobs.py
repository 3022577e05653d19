"""The SFT experiment's jobs: the base model once, then each family's seeds and soups."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from papergrid import runtime
from papergrid.io import atomic_path, write_parquet
from papergrid.lm.data.tasks import SKILLS
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.tokenizer import Tokenizer
from papergrid.lm.trainer import TrainConfig, train
from papergrid.sft.data import (
    PLAIN,
    SFT_SEED,
    base_corpus,
    base_prepared,
    build_tokenizer,
    plain_accuracy,
    sft_prepared,
)
from papergrid.sft.grid import CONTRACT, SOUP_SCHEMA, ZERO_SHOT_SCHEMA, run_id

log = logging.getLogger(__name__)


def train_base(
    cfg: Mapping[str, Any],
    model_cfg: Mapping[str, int],
    train_cfg: Mapping[str, Any],
    device: str,
    threads: int,
    model_out: str,
    vocab_out: str,
) -> float:
    """Pretrain the base model on the packed plain task text and marker documents, in
    windows of the full context; returns its held-out loss."""
    from papergrid.lm.data.templates import TEMPLATES

    tcfg = TrainConfig(**train_cfg)
    runtime.configure(threads, tcfg.seed)
    dev = runtime.resolve_device(device)
    train_texts, val_texts = base_corpus(cfg)
    examples = sft_examples(cfg)
    tok = build_tokenizer(train_texts + val_texts + sft_texts(cfg, examples))
    # context for the longest chat-formatted example under any template
    block = max(longest(examples, tok, name) for name in TEMPLATES)
    data = base_prepared(cfg, tok, tcfg.batch_size, tcfg.seed, block)
    mcfg = GPTConfig(vocab_size=len(tok), block_size=block, **model_cfg)
    torch.manual_seed(tcfg.seed)
    model = GPT(mcfg)
    result = train(model, tcfg, data.batches, data.evaluate, dev)
    if result.status != "ok":
        raise RuntimeError(f"base model training ended with status {result.status}")
    with atomic_path(model_out) as tmp:
        torch.save(
            {"model": model.state_dict(), "config": mcfg.to_dict(), "curve": result.curve}, tmp
        )
    tok.save(vocab_out)
    log.info("base model: %d steps, held-out loss %.4f", result.steps_run, result.final["val_loss"])
    return result.final["val_loss"]


def zero_shot(
    cfg: Mapping[str, Any],
    templates: Sequence[str],
    base_path: str,
    vocab_path: str,
    device: str,
    threads: int,
    out: str,
) -> list[dict]:
    """The base model's accuracy under each template before any SFT (a control: what the
    base already does with a template's markers), on the test and validation prompts, and
    in its own plain format (row ``plain``: what it knows of each skill)."""
    runtime.configure(threads, 0)
    dev = runtime.resolve_device(device)
    tok = Tokenizer.load(vocab_path)
    mcfg, state = load_base(base_path)
    model = GPT(mcfg)
    model.load_state_dict(state)
    model.to(dev).eval()
    skills = list(cfg["skills"])
    with torch.no_grad():
        plain = plain_accuracy(cfg, tok, model)
    rows = [{"template": PLAIN, **{k: plain.get(k, np.nan) for k in ZERO_SHOT_SCHEMA.names[1:]}}]
    log.info("plain format: mean accuracy %.3f", plain["acc_mean"])
    for template in templates:
        data = sft_prepared(cfg, tok, template, skills, skills, 1, 0)
        with torch.no_grad():
            acc = data.final(model)
        # a config may evaluate fewer skills than the schema names: those stay NaN
        rows.append(
            {"template": template, **{k: acc.get(k, np.nan) for k in ZERO_SHOT_SCHEMA.names[1:]}}
        )
        log.info("zero-shot %s: mean accuracy %.3f", template, acc["acc_mean"])
    write_parquet(pa.Table.from_pylist(rows, schema=ZERO_SHOT_SCHEMA), out)
    return rows


def sft_examples(cfg: Mapping[str, Any]) -> list:
    """Every example SFT and evaluation will encode (built once for the base job)."""
    from papergrid.sft.data import eval_examples, training_examples, val_examples

    ex = eval_examples(cfg["skills"], cfg["n_eval_per_skill"], cfg["sizes"])
    ex += val_examples(cfg["skills"], cfg["n_val_per_skill"], cfg["sizes"])
    return ex + training_examples(
        cfg["skills"], cfg["n_sft_per_skill"], SFT_SEED, cfg["sizes"], set()
    )


def sft_texts(cfg: Mapping[str, Any], examples: list | None = None) -> list[str]:
    """The strings of :func:`sft_examples`, so the vocabulary covers them."""
    return [e.prompt + e.reference for e in examples or sft_examples(cfg)]


def longest(examples: list, tok: Tokenizer, template: str) -> int:
    from papergrid.lm.data.templates import get_template

    tpl = get_template(template)
    # decoding may run two tokens past the longest reference
    return max(len(tok.encode(tpl.prompt(e.prompt) + e.reference + tpl.stop)) for e in examples) + 2


def load_base(path: str) -> tuple[GPTConfig, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    return GPTConfig(**state["config"]), state["model"]


def average_weights(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform weight average ("model soup", Wortsman et al. 2022) of same-shaped models."""
    keys = set(states[0])
    if any(set(s) != keys for s in states):
        raise ValueError("soup ingredients have different parameter names")
    return {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}


def train_job(
    runs: Sequence[Mapping[str, Any]],
    soups: Sequence[Sequence[int]],
    base_path: str,
    vocab_path: str,
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Any],
) -> list[str]:
    """Fine-tune every seed of one job from the base model; soup the requested pairs."""
    from papergrid.lm.jobs import packed_run_paths, train_lm_run

    tok = Tokenizer.load(vocab_path)
    mcfg, base_state = load_base(base_path)
    model_cfg = {k: v for k, v in mcfg.to_dict().items() if k not in ("vocab_size", "block_size")}
    trained: dict[int, dict] = {}
    statuses = []
    for i, run in enumerate(runs):
        seed = run["train"]["seed"]
        data = sft_prepared(
            run["data"],
            tok,
            run["template"],
            run["skills"],
            run["eval_skills"],
            run["train"]["batch_size"],
            seed,
        )

        def keep(model, _data, seed=seed):
            trained[seed] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return {}

        statuses.append(
            train_lm_run(
                contract=CONTRACT,
                run_id=run_id(run),
                run=run,
                grid={
                    "variant": run["variant"],
                    "template": run["template"],
                    "held_out": run["held_out"],
                    "loss_reduction": run["train"]["loss_reduction"],
                },
                source="sft",
                source_cfg=run["data"],
                model_cfg=model_cfg,
                train_cfg=run["train"],
                device=device,
                threads=threads,
                code_hash=code_hash,
                **packed_run_paths(outputs, i),
                after_train=keep,
                data=data,
                init_state=base_state,
                block_size=mcfg.block_size,
            )
        )
    if "soups" in outputs:
        rows = soup_rows(runs, soups, trained, mcfg, tok, device)
        write_parquet(pa.Table.from_pylist(rows, schema=SOUP_SCHEMA), outputs["soups"])
    return statuses


def soup_rows(runs, soups, trained, mcfg: GPTConfig, tok: Tokenizer, device: str) -> list[dict]:
    """Evaluate each pair's weight average on its template's evaluation (the parents'
    own results are their runs' summaries)."""
    by_seed = {r["train"]["seed"]: r for r in runs}
    dev = runtime.resolve_device(device)
    rows = []
    for a, b in soups:
        if a not in trained or b not in trained:
            log.warning("soup %s+%s skipped: a parent did not finish ok", a, b)
            continue
        run = by_seed[a]
        data = sft_prepared(
            run["data"], tok, run["template"], run["skills"], run["eval_skills"], 1, a
        )
        model = GPT(mcfg)
        model.load_state_dict(average_weights([trained[a], trained[b]]))
        model.to(dev).eval()
        with torch.no_grad():
            acc = data.final(model)
        rows.append(
            {
                "template": run["template"],
                "seed_a": a,
                "seed_b": b,
                **{
                    f"{prefix}acc_{s}": acc.get(f"{prefix}acc_{s}", np.nan)
                    for prefix in ("", "val_")
                    for s in (*SKILLS, "mean")
                },
            }
        )
    return rows
