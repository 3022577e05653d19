"""The depth grid: parameter budget x depth x seed, planned without torch.

Within a budget d_model and the attention width stay fixed and only the feed-forward
width shrinks as layers are added (Petty et al.): per block 4 d (norms) + 4 d^2
(attention) + 2 d d_ff, so d_ff(n) = ((N - 2 d) / n - 4 d - 4 d^2) / (2 d), rounded.

Each model is pretrained on a language, then fine-tuned on SCAN (Petty's protocol). One
job per (budget, seed) trains every depth: every model's fine-tuning starts from a
checkpoint matched to a pretraining loss that all of the seed's models reached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.config import GPTConfig
from papergrid.lm.data.scan import COMPOSITION_TESTS

TOLERANCE = 0.05  # realised N may differ from its budget by this share at most

CONTRACT = RunContract(
    experiment="depth",
    grid=(
        pa.field("budget", pa.int64()),  # non-embedding parameter budget
        pa.field("depth", pa.int64()),
        pa.field("d_model", pa.int64()),
        pa.field("d_ff", pa.int64()),
        pa.field("narrow", pa.bool_()),  # d_ff < d_model: Petty's "too deep" regime
    ),
    curve=(
        pa.field("step", pa.int64()),
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),  # SCAN, in-distribution test, action tokens
        *(pa.field(f"loss_{t}", pa.float64()) for t in COMPOSITION_TESTS if t != "id"),
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
        *(pa.field(f"loss_{t}", pa.float64()) for t in COMPOSITION_TESTS if t != "id"),
        *(pa.field(f"acc_{t}", pa.float64()) for t in COMPOSITION_TESTS),  # greedy exact match
        pa.field("pretrain_loss", pa.float64()),  # held-out loss at the end of pretraining
        pa.field("pretrain_floor", pa.float64()),  # the true source's loss, same sequences
        pa.field("pretrain_target", pa.float64()),  # the loss matched at: highest final, per seed
        pa.field("pretrain_step", pa.int64()),  # the checkpoint fine-tuning started from
        pa.field("pretrain_start_loss", pa.float64()),  # its held-out pretraining loss
        pa.field("us_per_token", pa.float64()),  # inference latency, one thread
    ),
)


def d_ff_for(budget: int, d_model: int, depth: int) -> int:
    """Feed-forward width that brings a ``depth``-layer model closest to ``budget``."""
    per_layer = (budget - 2 * d_model) / depth - 4 * d_model - 4 * d_model * d_model
    return round(per_layer / (2 * d_model))


def shape(size: Mapping[str, int], depth: int) -> dict[str, int]:
    return {
        "n_layer": int(depth),
        "d_model": size["d_model"],
        "n_head": size["n_head"],
        "d_ff": d_ff_for(size["params"], size["d_model"], depth),
    }


def realised_params(model: Mapping[str, int]) -> int:
    return GPTConfig(vocab_size=2, block_size=2, **model).non_embedding_params


def check_block(block: Mapping[str, Any]) -> None:
    """Cross-key checks the JSON schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    budgets = {b["params"]: b for b in block["budgets"]}
    problems = [
        f"depth.grid.budget: {p} is not among depth.budgets (params {sorted(budgets)})"
        for p in block["grid"]["budget"]
        if p not in budgets
    ]
    params = [b["params"] for b in block["budgets"]]
    repeated = sorted({p for p in params if params.count(p) > 1})
    if repeated:  # a budget is looked up by params: a second entry would never train
        problems.append(f"depth.budgets: params {repeated} listed more than once; keep one")
    for b in block["budgets"]:
        if b["d_model"] % b["n_head"]:
            continue  # validate_config names the key
        for depth in block["grid"]["depth"]:
            model = shape(b, depth)
            if model["d_ff"] < 1:
                problems.append(
                    f"depth.grid.depth: {depth} layers do not fit budget {b['params']} at "
                    f"d_model {b['d_model']} (attention alone needs more); drop the depth "
                    "or raise the budget"
                )
            elif abs(realised_params(model) / b["params"] - 1) > TOLERANCE:
                problems.append(
                    f"depth.budgets: {depth} layers realise {realised_params(model)} "
                    f"parameters, more than {TOLERANCE:.0%} from budget {b['params']}"
                )
    analysis, depths = block["analysis"], block["grid"]["depth"]
    if 1 not in depths:
        problems.append("depth.grid.depth: must include 1 (gains are measured from depth 1)")
    if analysis["compare_depth"] not in depths:
        problems.append(
            f"depth.analysis.compare_depth: {analysis['compare_depth']} is not among "
            f"depth.grid.depth {depths}"
        )
    missing = sorted(set(analysis["trend_depths"]) - set(depths))
    if missing:
        problems.append(
            f"depth.analysis.trend_depths: {missing} not among depth.grid.depth {depths}"
        )
    if len(block["grid"]["seed"]) < 2:
        problems.append("depth.grid.seed: needs at least 2 seeds for any interval")
    pre = block["pretrain"]
    if pre["train"]["eval_every"] > pre["train"]["steps"]:
        problems.append(
            f"depth.pretrain.train.eval_every: {pre['train']['eval_every']} is more than its "
            f"steps ({pre['train']['steps']}): no checkpoint to match losses on"
        )
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def seed_runs(block: Mapping[str, Any], budget: int, seed: int) -> list[dict[str, Any]]:
    """Resolved configs of every depth of one (budget, seed) job, shallowest first."""
    size = next(b for b in block["budgets"] if b["params"] == int(budget))
    pre = block["pretrain"]
    runs = []
    for depth in sorted(int(d) for d in block["grid"]["depth"]):
        model = shape(size, depth)
        runs.append(
            {
                "budget": int(budget),
                "depth": depth,
                "seed": int(seed),
                "model": model,
                "narrow": model["d_ff"] < model["d_model"],
                "pretrain": {
                    "dyck": dict(pre["dyck"]),
                    "train": {**pre["train"], "seed": int(seed), "checkpoint_every": 0},
                    "match": bool(pre["match"]),
                },
                "train": {**block["train"], "seed": int(seed), "checkpoint_every": 0},
                "scan": dict(block["scan"]),
            }
        )
    return runs


SCAN_COMMANDS = 20_910  # every SCAN command: the most a job can decode when scoring all


def equivalent_steps(run: Mapping[str, Any], seq_len: int) -> int:
    """Fine-tuning steps that cost as much as the whole run: pretraining, fine-tuning and
    greedy decoding of the test commands (a forward pass per generated token, counted as
    a third of a training token; generous, for a resource request)."""
    per_step = run["train"]["batch_size"] * seq_len
    pre = run["pretrain"]["train"]
    pre_tokens = pre["steps"] * pre["batch_size"] * run["pretrain"]["dyck"]["seq_len"]
    n_eval = run["scan"]["n_eval"]
    commands = SCAN_COMMANDS if n_eval is None else 4 * n_eval
    decode_tokens = commands * seq_len * seq_len / 3
    return run["train"]["steps"] + math.ceil((pre_tokens + decode_tokens) / per_step)


def run_id(run: Mapping[str, Any]) -> str:
    return f"depth/b{run['budget']}-L{run['depth']}-s{run['seed']}"
