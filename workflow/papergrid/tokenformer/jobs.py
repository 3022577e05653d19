"""One TokenFormer job: every run of one architecture and one seed.

The first stage is trained once and grown in each of the architecture's growth arms
(:mod:`papergrid.tokenformer.grid`), so the arms share their start and are paired by seed;
every stage trains on the data stream's own steps (stage k starts at its first step), so a
growth run and the scratch run of as many steps see the same batches.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from papergrid import runtime
from papergrid.contract import rows_to_table
from papergrid.io import write_parquet
from papergrid.lm.growth import continue_curve, grow
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.sources import Prepared, prepare
from papergrid.lm.trainer import TrainConfig, TrainResult, train
from papergrid.provenance import run_hash
from papergrid.tokenformer.grid import ARMS, CONTRACT, SCRATCH, run_id, shape, stages

log = logging.getLogger(__name__)


class OffsetBatches:
    """The batches of steps ``offset``, ``offset + 1``, ... of a stream."""

    def __init__(self, batches, offset: int):
        self.batches, self.offset = batches, offset

    def get(self, step: int):
        return self.batches.get(self.offset + step)


def stage_train(block: Mapping[str, Any], steps: int, seed: int) -> TrainConfig:
    t = block["train"]
    return TrainConfig(
        steps=steps,
        batch_size=t["batch_size"],
        lr=t["lr"],
        warmup_steps=t["warmup_steps"],
        eval_every=t["eval_every"],
        seed=seed,
        dtype=t["dtype"],
    )


def train_stage(
    model: GPT, block: Mapping[str, Any], data: Prepared, first: int, steps: int, seed: int, dev
) -> TrainResult:
    """One stage: its own warmup and cosine, a fresh optimizer, steps ``first`` on."""
    return train(
        model,
        stage_train(block, steps, seed),
        OffsetBatches(data.batches, first),
        data.evaluate,
        dev,
    )


def model_config(block: Mapping[str, Any], data: Prepared, layer: str, factor: int) -> GPTConfig:
    return GPTConfig(
        vocab_size=len(data.tokenizer),
        block_size=data.block_size,
        **shape(block["model"], layer, factor),
    )


def grown_run(
    block: Mapping[str, Any], data: Prepared, arm: str, first: GPT, first_curve, seed: int, dev
) -> dict[str, Any]:
    """Grow the trained first stage through every later stage of arm ``arm``."""
    spec = ARMS[arm]
    model = copy.deepcopy(first)
    curve = continue_curve([], first_curve, 0)
    jumps, status = [], "ok"
    for k, (start, steps, factor) in enumerate(stages(block)[1:], start=1):
        model = grow(
            model,
            model_config(block, data, spec.layer, factor),
            new_keys=spec.new_keys,
            keep_scale=spec.keep_scale,
            # the new weights' draw: one stream per (seed, growth), so that arms of the same
            # kind of new keys differ only in what the arm changes (the scale)
            seed=runtime.stream_seed(seed, "tokenformer-growth", k),
        )
        result = train_stage(model, block, data, start, steps, seed, dev)
        before = curve[-1]["val_loss"]
        curve = continue_curve(curve, result.curve, k)
        jumps.append(result.curve[0]["val_loss"] - before)
        if result.status != "ok":
            status = result.status
            break
    return {"model": model, "curve": curve, "jumps": jumps, "status": status}


def family_job(
    runs: Sequence[Mapping[str, Any]],
    block: Mapping[str, Any],
    layer: str,
    seed: int,
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, str],
) -> None:
    """Train every run of ``runs`` (one architecture, one seed: :func:`family_runs`) and
    write their summaries and curves."""
    runtime.configure(threads, seed)
    dev = runtime.resolve_device(device)
    data = prepare(
        "markov", {**block["markov"], "n_train": None}, block["train"]["batch_size"], seed
    )
    summaries, curves = [], []

    def record(run, model, init, curve, status, wall, extra):
        meta = {
            "run_id": run_id(run),
            "experiment": CONTRACT.experiment,
            "seed": int(seed),
            "n_params": model.num_params(),
            "status": status,
            "wall_seconds": float(wall),
            "device": runtime.device_label(dev),
            "torch_version": runtime.torch_version(),
            "config_hash": run_hash(run, init),
            "code_hash": code_hash,
            "arm": run["arm"],
            "layer": layer,
            "steps": int(run["steps"]),
        }
        last = curve[-1]
        summaries.append(
            {
                **meta,
                "steps_run": int(last["step"]),
                "tokens": int(last["tokens"]),
                "flops": float(last["flops"]),
                "train_loss": float(last["train_loss"]),
                "val_loss": float(last["val_loss"]),
                "entropy_floor": float(data.meta["entropy_floor"]),
                **extra,
            }
        )
        curves.extend({**meta, **{f.name: row[f.name] for f in CONTRACT.curve}} for row in curve)

    growth_runs = [r for r in runs if r["arm"] != SCRATCH]
    if growth_runs:
        start, steps, _ = stages(block)[0]
        torch.manual_seed(seed)
        first = GPT(model_config(block, data, layer, 1))
        init = runtime.state_hash(first)
        res = train_stage(first, block, data, start, steps, seed, dev)
        first_wall = res.wall_seconds
        for run in growth_runs:
            t0 = time.perf_counter()
            if res.status != "ok":
                out = {"model": first, "curve": continue_curve([], res.curve, 0), "jumps": []}
                out["status"] = res.status
            else:
                out = grown_run(block, data, run["arm"], first, res.curve, seed, dev)
            jumps = out["jumps"]
            record(
                run,
                out["model"],
                init,
                out["curve"],
                out["status"],
                first_wall + time.perf_counter() - t0,
                {
                    "stage1_loss": float(res.curve[-1]["val_loss"]),
                    "jump_first": jumps[0] if jumps else math.nan,
                    "abs_jump": sum(abs(j) for j in jumps) / len(jumps) if jumps else math.nan,
                },
            )
            log.info("%s: %s, jumps %s", run_id(run), out["status"], jumps)
    for run in (r for r in runs if r["arm"] == SCRATCH):
        torch.manual_seed(seed)
        model = GPT(model_config(block, data, layer, run["factor"]))
        init = runtime.state_hash(model)
        res = train_stage(model, block, data, 0, run["steps"], seed, dev)
        record(
            run,
            model,
            init,
            continue_curve([], res.curve, 0),
            res.status,
            res.wall_seconds,
            {"stage1_loss": math.nan, "jump_first": math.nan, "abs_jump": math.nan},
        )
        log.info("%s: %s, final %s", run_id(run), res.status, res.final)
    for kind, rows, schema in (
        ("summary", summaries, CONTRACT.summary_schema()),
        ("curve", curves, CONTRACT.curve_schema()),
    ):
        write_parquet(rows_to_table(rows, schema, outputs[kind]), outputs[kind])
