"""The precision grid: model size x tokens per parameter x training precision.

Each (size, tokens-per-parameter) cell is one job (papergrid.precision.jobs) that trains
one model per training precision, each with its own full schedule (never an intermediate
checkpoint as a smaller D). This module imports no torch: the Snakefile plans the grid
with it at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.config import GPTConfig

PTQ_BITS = (3, 4, 5, 6, 8)
TENSORS = ("weights", "activations", "kv")
FULL = "fp"  # the unquantised baseline in the train_bits axis of the config
PRESAMPLE_TOKENS = 20_000_000  # above this a run's data is generated step by step

CONTRACT = RunContract(
    experiment="precision",
    grid=(
        pa.field("d_model", pa.int64()),
        pa.field("tokens_per_param", pa.float64()),  # D / N
        pa.field("train_bits", pa.float64()),  # inf: unquantised
        pa.field("n_quantised", pa.int64()),  # tensor types quantised at train_bits (k)
    ),
    curve=(
        pa.field("step", pa.int64()),
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),  # as trained, at its training precision
        # after round-to-nearest PTQ of every linear weight to P_post bits
        *(pa.field(f"val_loss_ptq{b}", pa.float64()) for b in PTQ_BITS),
    ),
)


def check_block(block: Mapping[str, Any]) -> None:
    """Cross-key checks the JSON schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    sizes = [s["d_model"] for s in block["sizes"]]
    problems = [
        f"precision.grid.d_model: {d} is not among precision.sizes (d_model {sizes})"
        for d in block["grid"]["d_model"]
        if d not in sizes
    ]
    repeated = sorted({d for d in sizes if sizes.count(d) > 1})
    if repeated:  # a size is looked up by d_model: a second entry would never train
        problems.append(f"precision.sizes: d_model {repeated} listed more than once; keep one")
    analysis, bits = block["analysis"], block["grid"]["train_bits"]
    for key in ("saturation_bits", "robust_train_bits"):
        if analysis[key] not in bits:
            problems.append(
                f"precision.analysis.{key}: {analysis[key]} is not among "
                f"precision.grid.train_bits {bits}"
            )
    if FULL not in bits:
        problems.append(f"precision.grid.train_bits: must include {FULL!r} (the baseline)")
    lo, hi = analysis["p_star_band"]
    if lo >= hi:
        problems.append(f"precision.analysis.p_star_band: [{lo}, {hi}] is empty")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def non_embedding_params(size: Mapping[str, int]) -> int:
    """N of a model of this shape (independent of the vocabulary and context)."""
    return GPTConfig(vocab_size=2, block_size=2, **size).non_embedding_params


def bits_value(bits: int | str) -> float:
    return math.inf if bits == FULL else float(bits)


def cell_runs(block: Mapping[str, Any], d_model: int, ratio: float) -> list[dict[str, Any]]:
    """Resolved configs of every training precision of one (size, D/N) cell."""
    size = next(s for s in block["sizes"] if s["d_model"] == int(d_model))
    model = {**size, "d_ff": size.get("d_ff", 4 * size["d_model"])}
    n = non_embedding_params(model)
    train = block["train"]
    per_step = train["batch_size"] * block["markov"]["seq_len"]
    steps = max(1, math.ceil(float(ratio) * n / per_step))
    schedule = {
        "steps": steps,
        "batch_size": train["batch_size"],
        "lr": train["lr"],
        "warmup_steps": max(1, round(train["warmup_fraction"] * steps)),
        "eval_every": max(1, steps // train["evals"]),
        "checkpoint_every": 0,
        "seed": train["seed"],
        "dtype": "fp32",
    }
    # D tokens of fresh sequences, sampled up front while that fits in memory and drawn
    # step by step (n_train None) beyond it, as at paper scale
    n_seq = steps * train["batch_size"]
    fits = n_seq * (block["markov"]["seq_len"] + 1) <= PRESAMPLE_TOKENS
    markov = {**block["markov"], "n_train": n_seq if fits else None}
    return [
        {
            "d_model": int(d_model),
            "tokens_per_param": float(ratio),
            "train_bits": bits,
            "quantise": [] if bits == FULL else list(block["quantise"]),
            "model": model,
            "train": schedule,
            "markov": markov,
        }
        for bits in block["grid"]["train_bits"]
    ]


def run_id(run: Mapping[str, Any]) -> str:
    return f"precision/d{run['d_model']}-r{run['tokens_per_param']:g}-{run['train_bits']}"
