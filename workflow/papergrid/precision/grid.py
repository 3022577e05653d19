"""The precision grid: model size x tokens per parameter x seed x training setting.

A setting is how a run is trained: ``fp`` (unquantised), ``int{b}`` (weights, activations
and KV cache jointly at b-bit integers), a floating-point format's name (``e2m1``,
``e3m2``, ``e4m3``: the same three tensors in that format) or ``{w,a,kv}{b}`` (one tensor
type alone at b-bit integers, the others unquantised: Kumar's separate sweeps). Runs of
one (size, D/N, seed) cell share their initialisation and data order (``seed``, a
column every contract has), so a quantised
run's loss minus the cell's unquantised one is a within-cell contrast.

Every run takes about ``train.steps`` optimizer steps whatever its D: the batch grows
with D (Kumar's runs all train for thousands of steps; a run of a few steps measures
the uniform level, not the law). Each (size, D/N) pair is one job
(papergrid.precision.jobs). This module imports no torch: the Snakefile plans the grid
with it at start-up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.config import GPTConfig

PTQ_BITS = (3, 4, 5, 6, 8)
TENSORS = ("weights", "activations", "kv")
MARGINAL = {"w": "weights", "a": "activations", "kv": "kv"}  # setting prefix: tensor type
FULL = "fp"  # the unquantised setting
PRESAMPLE_TOKENS = 20_000_000  # above this a run's data is generated step by step
_FLOAT = re.compile(r"^e(\d)m(\d)$")
_MARGINAL = re.compile(r"^(w|a|kv)(\d+)$")

CONTRACT = RunContract(
    experiment="precision",
    grid=(
        pa.field("d_model", pa.int64()),
        pa.field("tokens_per_param", pa.float64()),  # D / N asked for (tokens: D trained)
        pa.field("setting", pa.string()),  # fp, int4, e2m1, w3, a3, kv3 ...
        pa.field("number_format", pa.string()),  # fp | int | float
        pa.field("quantised", pa.string()),  # tensor types at train_bits: "w+a+kv", "a", ""
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
        pa.field("batch_size", pa.int64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),  # as trained, at its training precision
        # the true source's loss on the same validation targets: the exact floor E
        pa.field("val_floor", pa.float64()),
        # the stationary symbol entropy: a run whose loss is not below it learnt nothing
        pa.field("val_unigram", pa.float64()),
        # after round-to-nearest PTQ of every linear weight to P_post bits
        *(pa.field(f"val_loss_ptq{b}", pa.float64()) for b in PTQ_BITS),
    ),
)


def parse_setting(setting: str) -> dict[str, Any]:
    """number_format, train_bits, the quantised tensor types and each one's spec."""
    if setting == FULL:
        return {"number_format": "fp", "train_bits": math.inf, "tensors": (), "spec": None}
    if setting.startswith("int") and setting[3:].isdigit():
        bits = int(setting[3:])
        return {"number_format": "int", "train_bits": float(bits), "tensors": TENSORS, "spec": bits}
    if m := _FLOAT.match(setting):
        bits = 1 + int(m[1]) + int(m[2])
        return {
            "number_format": "float",
            "train_bits": float(bits),
            "tensors": TENSORS,
            "spec": setting,
        }
    if m := _MARGINAL.match(setting):
        bits = int(m[2])
        return {
            "number_format": "int",
            "train_bits": float(bits),
            "tensors": (MARGINAL[m[1]],),
            "spec": bits,
        }
    raise ValueError(
        f"unknown precision setting {setting!r}: fp, int<bits>, a float format eXmY, "
        "or w/a/kv<bits>"
    )


def settings(block: Mapping[str, Any], d_model: int) -> list[str]:
    """Every setting a cell of this size trains, in a fixed order (its files' order)."""
    g = block["grid"]
    out = [FULL, *(f"int{b}" for b in g["train_bits"]), *g["float_formats"]]
    if int(d_model) in g["marginal_d_model"]:
        out += [f"{t}{b}" for t in MARGINAL for b in g["marginal_bits"]]
    return out


def check_block(block: Mapping[str, Any]) -> None:
    """Cross-key checks the JSON schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    sizes = [s["d_model"] for s in block["sizes"]]
    g, analysis = block["grid"], block["analysis"]
    problems = [
        f"precision.grid.{key}: {d} is not among precision.sizes (d_model {sizes})"
        for key in ("d_model", "marginal_d_model")
        for d in g[key]
        if d not in sizes
    ]
    problems += [
        f"precision.grid.marginal_d_model: {d} is not among precision.grid.d_model {g['d_model']}"
        for d in g["marginal_d_model"]
        if d in sizes and d not in g["d_model"]
    ]
    repeated = sorted({d for d in sizes if sizes.count(d) > 1})
    if repeated:  # a size is looked up by d_model: a second entry would never train
        problems.append(f"precision.sizes: d_model {repeated} listed more than once; keep one")
    for fmt in g["float_formats"]:
        if not _FLOAT.match(fmt):
            problems.append(
                f"precision.grid.float_formats: {fmt!r} is not a format eXmY "
                "(allowed: e2m1, e2m3, e3m2, e4m3, e5m2)"
            )
    for key in ("saturation_bits", "robust_post_bits"):
        pool = g["train_bits"] if key == "saturation_bits" else PTQ_BITS
        if analysis[key] not in pool:
            problems.append(f"precision.analysis.{key}: {analysis[key]} is not among {list(pool)}")
    if analysis["robust_train_bits"] not in g["marginal_bits"]:
        problems.append(
            f"precision.analysis.robust_train_bits: {analysis['robust_train_bits']} is not among "
            f"precision.grid.marginal_bits {g['marginal_bits']} (weight-only runs are compared)"
        )
    if analysis["multiplier_bits"] not in g["train_bits"]:
        problems.append(
            f"precision.analysis.multiplier_bits: {analysis['multiplier_bits']} is not among "
            f"precision.grid.train_bits {g['train_bits']}"
        )
    for key in ("p_star_band", "p_star_float_band"):
        lo, hi = analysis[key]
        if lo >= hi:
            problems.append(f"precision.analysis.{key}: [{lo}, {hi}] is empty")
    if len(g["tokens_per_param"]) < 2:
        problems.append("precision.grid.tokens_per_param: at least 2 values (the PTQ trend in D)")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def non_embedding_params(size: Mapping[str, int]) -> int:
    """N of a model of this shape (independent of the vocabulary and context)."""
    return GPTConfig(vocab_size=2, block_size=2, **size).non_embedding_params


def schedule(block: Mapping[str, Any], n: int, ratio: float, seed: int) -> dict[str, Any]:
    """About ``train.steps`` steps for D = ratio * N tokens: the batch carries the D."""
    train, seq_len = block["train"], block["markov"]["seq_len"]
    tokens = float(ratio) * n
    batch = max(train["min_batch"], round(tokens / (train["steps"] * seq_len)))
    steps = max(1, math.ceil(tokens / (batch * seq_len)))
    return {
        "steps": steps,
        "batch_size": batch,
        "lr": train["lr"],
        "warmup_steps": max(1, round(train["warmup_fraction"] * steps)),
        "eval_every": max(1, steps // train["evals"]),
        "checkpoint_every": 0,
        "seed": int(seed),
        "dtype": "fp32",
    }


def cell_runs(block: Mapping[str, Any], d_model: int, ratio: float) -> list[dict[str, Any]]:
    """Resolved configs of every (seed, setting) of one (size, D/N) pair, seed-major."""
    size = next(s for s in block["sizes"] if s["d_model"] == int(d_model))
    model = {**size, "d_ff": size.get("d_ff", 4 * size["d_model"])}
    n = non_embedding_params(model)
    runs = []
    for seed in block["grid"]["seeds"]:
        sched = schedule(block, n, ratio, seed)
        # D tokens of fresh sequences, sampled up front while that fits in memory and
        # drawn step by step (n_train None) beyond it, as at paper scale
        n_seq = sched["steps"] * sched["batch_size"]
        fits = n_seq * (block["markov"]["seq_len"] + 1) <= PRESAMPLE_TOKENS
        markov = {**block["markov"], "n_train": n_seq if fits else None}
        for setting in settings(block, d_model):
            runs.append(
                {
                    "d_model": int(d_model),
                    "tokens_per_param": float(ratio),
                    "seed": int(seed),
                    "setting": setting,
                    "model": model,
                    "train": sched,
                    "markov": markov,
                }
            )
    return runs


def grid_row(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's grid columns of :data:`CONTRACT`."""
    s = parse_setting(run["setting"])
    short = {v: k for k, v in MARGINAL.items()}
    return {
        "d_model": run["d_model"],
        "tokens_per_param": run["tokens_per_param"],
        "setting": run["setting"],
        "number_format": s["number_format"],
        "quantised": "+".join(short[t] for t in s["tensors"]),
        "train_bits": s["train_bits"],
        "n_quantised": len(s["tensors"]),
    }


def run_id(run: Mapping[str, Any]) -> str:
    return (
        f"precision/d{run['d_model']}-r{run['tokens_per_param']:g}-s{run['seed']}-{run['setting']}"
    )
