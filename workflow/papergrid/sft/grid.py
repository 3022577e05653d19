"""The SFT grid, planned without torch.

Three families of runs start from the one base model:

- ``main``: chat template x seed, every skill, summed-token loss (Tülu 3);
- ``ablate``: one skill's SFT data left out, on the reference template, ``ablation_seeds``;
- ``mean_loss``: the reference template with the loss averaged per example (one example
  per micro-batch, each micro-batch's mean counting equally), ``ablation_seeds``.

Runs train whole epochs (``sft.train.epochs``) without replacement; the step count, warmup
and evaluation interval follow from the epochs, the examples and the batch size.

Each job trains one family member's seeds in one process (imports cost ~7 s a process);
``main`` jobs also average pairs of their seeds' weights (soups).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.data.tasks import SKILLS

VARIANTS = ("main", "ablate", "mean_loss")
NONE = "none"  # the held_out value of runs that keep every skill

CONTRACT = RunContract(
    experiment="sft",
    grid=(
        pa.field("variant", pa.string()),  # main | ablate | mean_loss
        pa.field("template", pa.string()),
        pa.field("held_out", pa.string()),  # the skill left out of SFT, or "none"
        pa.field("loss_reduction", pa.string()),  # sum | mean
    ),
    curve=(
        pa.field("step", pa.int64()),
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),  # mean loss per response token, validation prompts
        pa.field("grad_norm", pa.float64()),  # mean global gradient norm since the last row
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("grad_norm", pa.float64()),
        # verifier, greedy decoding: test prompts (acc_) and validation prompts (val_acc_)
        *(pa.field(f"{p}acc_{s}", pa.float64()) for p in ("", "val_") for s in (*SKILLS, "mean")),
        # mean accuracy on the even (a) and odd (b) halves of each skill's test prompts
        pa.field("acc_mean_a", pa.float64()),
        pa.field("acc_mean_b", pa.float64()),
    ),
)

# results/sft/zero_shot.parquet: the base model under each template, before any SFT, and
# in its own plain format (template "plain")
ZERO_SHOT_SCHEMA = pa.schema(
    [
        ("template", pa.string()),
        *((f"{p}acc_{s}", pa.float64()) for p in ("", "val_") for s in (*SKILLS, "mean")),
    ]
)

SOUP_SCHEMA = pa.schema(
    [
        ("template", pa.string()),
        ("seed_a", pa.int64()),
        ("seed_b", pa.int64()),
        *((f"{p}acc_{s}", pa.float64()) for p in ("", "val_") for s in (*SKILLS, "mean")),
    ]
)


def check_block(block: Mapping[str, Any]) -> None:
    """Cross-key checks the JSON schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    g, problems = block["grid"], []
    if block["reference_template"] not in g["template"]:
        problems.append(
            f"sft.reference_template: {block['reference_template']!r} is not among "
            f"sft.grid.template {g['template']}"
        )
    if not set(g["ablation_seeds"]) <= set(g["seed"]):
        problems.append(
            f"sft.grid.ablation_seeds: {g['ablation_seeds']} must be a subset of "
            f"sft.grid.seed {g['seed']} (ablations are compared with those main runs)"
        )
    for a, b in block["soups"]:
        if a == b or a not in g["seed"] or b not in g["seed"]:
            problems.append(
                f"sft.soups: pair [{a}, {b}] needs two different seeds of sft.grid.seed"
            )
    problems += [f"sft.grid.template: {p}" for p in same_renderings(g["template"])]
    skills = block["data"]["skills"]
    unknown = sorted(set(g["ablate"]) - set(skills))
    if unknown:
        problems.append(f"sft.grid.ablate: {unknown} are not among sft.data.skills {skills}")
    if len(g["seed"]) < 2:
        problems.append("sft.grid.seed: needs at least 2 seeds for a seed spread")
    n = block["data"]["n_sft_per_skill"] * len(skills)
    if n < block["train"]["batch_size"]:
        problems.append(
            f"sft.train.batch_size: {block['train']['batch_size']} is more than the "
            f"{n} SFT examples (sft.data.n_sft_per_skill x skills): no whole batch per epoch"
        )
    if block["train"]["grad_accum"] > block["train"]["batch_size"]:
        problems.append("sft.train.grad_accum: must not exceed sft.train.batch_size")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def same_renderings(names) -> list[str]:
    """Templates that render a single-turn example exactly like an earlier one in
    ``names``: the same training tokens, so they would count as two templates but be one."""
    from papergrid.lm.data.templates import get_template, single_turn

    seen: dict[str, str] = {}
    out = []
    for name in names:
        text = single_turn(get_template(name))
        if text in seen:
            out.append(
                f"{name!r} renders single-turn examples exactly as {seen[text]!r} (the same "
                "prompt, answer and end token): keep one of them"
            )
        seen.setdefault(text, name)
    return out


def variant_jobs(block: Mapping[str, Any]) -> list[str]:
    """Names of the jobs beside the main grid: ablate-<skill> and mean_loss."""
    out = [f"ablate-{s}" for s in block["grid"]["ablate"]]
    if block["grid"]["mean_loss"]:
        out.append("mean_loss")
    return out


def job_runs(block: Mapping[str, Any], job: str) -> list[dict[str, Any]]:
    """Resolved configs of every seed of one job: main-<template>, ablate-<skill> or
    mean_loss."""
    variant, _, arg = job.partition("-")
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown SFT job {job!r}; allowed: main-<template>, {variant_jobs(block)}"
        )
    g = block["grid"]
    seeds = g["seed"] if variant == "main" else g["ablation_seeds"]
    template = arg if variant == "main" else block["reference_template"]
    held_out = arg if variant == "ablate" else NONE
    reduction = "mean" if variant == "mean_loss" else "sum"
    train = train_config(block)
    if variant == "mean_loss":  # one example per micro-batch: each example's mean counts
        train["grad_accum"] = train["batch_size"]
    return [
        {
            "variant": variant,
            "template": template,
            "held_out": held_out,
            "skills": [s for s in block["data"]["skills"] if s != held_out],
            "eval_skills": list(block["data"]["skills"]),
            "data": dict(block["data"]),
            "epochs": block["train"]["epochs"],
            "train": {**train, "seed": int(seed), "loss_reduction": reduction},
        }
        for seed in seeds
    ]


def train_config(block: Mapping[str, Any]) -> dict[str, Any]:
    """The trainer's config of one SFT run: ``epochs`` over every skill's examples (an
    ablation drops its skill from each batch, so it takes the same steps), warmup a
    fraction of them, ``evals`` evaluations spread evenly."""
    from papergrid.sft.data import steps_per_epoch

    t = block["train"]
    n = block["data"]["n_sft_per_skill"] * len(block["data"]["skills"])
    steps = t["epochs"] * steps_per_epoch(n, t["batch_size"])
    fixed = {"epochs", "warmup_fraction", "evals"}
    return {
        **{k: v for k, v in t.items() if k not in fixed},
        "steps": steps,
        "warmup_steps": round(t["warmup_fraction"] * steps),
        "eval_every": max(1, steps // t["evals"]),
        "checkpoint_every": 0,
    }


def run_id(run: Mapping[str, Any]) -> str:
    return f"sft/{run['variant']}-{run['template']}-{run['held_out']}-s{run['train']['seed']}"
