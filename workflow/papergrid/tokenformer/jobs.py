"""One TokenFormer job: every run of one architecture and one seed.

The first stage is trained once and grown in each of the architecture's growth arms
(:mod:`papergrid.tokenformer.grid`), so the arms share their start and are paired by seed;
a run's step k trains on the data stream's batch k whatever its arm, so a growth run and
the scratch run of as many steps see the same batches. Training across growth is
:mod:`papergrid.tokenformer.schedule`'s loop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from papergrid import runtime
from papergrid.contract import rows_to_table
from papergrid.io import write_parquet
from papergrid.lm.growth import carry_adam_state, grow
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.trainer import TrainConfig, make_optimizer
from papergrid.provenance import run_hash
from papergrid.tokenformer.grid import ARMS, CONTRACT, SCRATCH, run_id, shape, stages
from papergrid.tokenformer.language import prepare
from papergrid.tokenformer.model import build, builder
from papergrid.tokenformer.schedule import Progress, evaluate_row, lr_schedule, train_span

log = logging.getLogger(__name__)


def train_config(block: Mapping[str, Any], steps: int, lr: float, seed: int) -> TrainConfig:
    t = block["train"]
    return TrainConfig(
        steps=steps,
        batch_size=t["batch_size"],
        lr=lr,
        warmup_steps=t["warmup_steps"],
        eval_every=t["eval_every"],
        seed=seed,
        dtype=t["dtype"],
    )


def model_config(block: Mapping[str, Any], vocab: int, layer: str, factor: int) -> GPTConfig:
    return GPTConfig(
        vocab_size=vocab,
        block_size=block["markov"]["seq_len"],
        **shape(block["model"], layer, factor),
    )


@dataclass
class Trained:
    model: GPT
    opt: torch.optim.Optimizer
    progress: Progress


def span(cfg: TrainConfig, lr_of, data, model, opt, progress, last, stage, dev) -> None:
    train_span(
        model,
        opt,
        lr_of,
        data,
        last,
        progress,
        stage,
        eval_every=cfg.eval_every,
        grad_clip=cfg.grad_clip,
        device=dev,
        bf16=cfg.dtype == "bf16",
    )


def initial(block, data, layer: str, factor: int, seed: int, dev) -> GPT:
    """The shape at ``factor`` at its random start (the seed's own draw)."""
    torch.manual_seed(seed)
    cfg = model_config(block, len(data.tokenizer), layer, factor)
    model = build(cfg, layer, block["model"]["layer_norm"]).to(dev)
    return model


def first_stage(block, data, layer: str, lr: float, seed: int, dev) -> Trained:
    """The first stage: the whole run's schedule up to the first growth."""
    total = train_config(block, block["train"]["steps"], lr, seed)
    model = initial(block, data, layer, 1, seed, dev)
    opt = make_optimizer(model, total)
    progress = Progress(init=runtime.state_hash(model))
    evaluate_row(model, data, progress, 0.0, math.nan, 0)
    lr_of = lr_schedule(total, "continue", stages(block))
    span(total, lr_of, data, model, opt, progress, stages(block)[0][1], 0, dev)
    return Trained(model, opt, progress)


def grown_run(block, data, arm: str, first: Trained, lr: float, seed: int, dev):
    """Grow the trained first stage through every later stage of arm ``arm``; returns
    the final model, its progress and the loss change at each growth."""
    spec = ARMS[arm]
    total = train_config(block, block["train"]["steps"], lr, seed)
    lr_of = lr_schedule(total, spec.schedule, stages(block))
    model, opt, progress = first.model, first.opt, first.progress.copy()
    jumps = []
    for k, (start, steps, factor) in enumerate(stages(block)[1:], start=1):
        if progress.status != "ok":
            break
        grown = grow(
            model,
            model_config(block, len(data.tokenizer), spec.layer, factor),
            new_keys=spec.new_keys,
            keep_scale=spec.keep_scale,
            # the new weights' draw: one stream per (seed, growth), so that arms of the same
            # kind of new keys differ only in what the arm changes
            seed=runtime.stream_seed(seed, "tokenformer-growth", k),
            build=builder(spec.layer, block["model"]["layer_norm"]),
        )
        grown_opt = make_optimizer(grown, total)
        if spec.schedule == "continue":
            carry_adam_state(model, opt, grown, grown_opt)
        model, opt = grown, grown_opt
        before = progress.curve[-1]["val_loss"]
        after = evaluate_row(model, data, progress, lr_of(start), math.nan, k)["val_loss"]
        jumps.append(after - before)
        span(total, lr_of, data, model, opt, progress, start + steps, k, dev)
    return model, progress, jumps


def scratch_run(block, data, layer: str, factor: int, steps: int, lr: float, seed: int, dev):
    """The shape at ``factor`` trained from its own random start for ``steps`` steps on
    one warm-up and cosine; returns the model and its progress (``progress.init`` the
    hash of its start)."""
    total = train_config(block, steps, lr, seed)
    model = initial(block, data, layer, factor, seed, dev)
    progress = Progress(init=runtime.state_hash(model))
    evaluate_row(model, data, progress, 0.0, math.nan, 0)
    lr_of = lr_schedule(total, "continue", [(0, steps, factor)])
    span(total, lr_of, data, model, make_optimizer(model, total), progress, steps, 0, dev)
    return model, progress


def family_job(
    runs: Sequence[Mapping[str, Any]],
    block: Mapping[str, Any],
    layer: str,
    seed: int,
    rates: Mapping[str, float],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, str],
) -> None:
    """Train every run of ``runs`` (one architecture, one seed: :func:`family_runs`) at
    the peak learning rates ``rates`` (``growth`` for the first stage and the growth arms,
    ``scratch`` for the scratch runs: :mod:`papergrid.tokenformer.tuning`) and write their
    summaries and curves."""
    runtime.configure(threads, seed)
    dev = runtime.resolve_device(device)
    data = prepare(block["markov"], block["train"]["batch_size"], seed)
    summaries, curves = [], []

    def record(run, model, progress: Progress, wall, extra):
        lr = rates["growth" if run["arm"] != SCRATCH else "scratch"]
        meta = {
            "run_id": run_id(run),
            "experiment": CONTRACT.experiment,
            "seed": int(seed),
            "n_params": model.num_params(),
            "status": progress.status,
            "wall_seconds": float(wall),
            "device": runtime.device_label(dev),
            "torch_version": runtime.torch_version(),
            "config_hash": run_hash({**run, "lr": lr}, progress.init),
            "code_hash": code_hash,
            "arm": run["arm"],
            "layer": layer,
            "steps": int(run["steps"]),
        }
        last = progress.curve[-1]
        summaries.append(
            {
                **meta,
                "steps_run": int(last["step"]),
                "tokens": int(last["tokens"]),
                "flops": float(last["flops"]),
                "train_loss": float(last["train_loss"]),
                "val_loss": float(last["val_loss"]),
                "entropy_floor": float(data.meta["entropy_floor"]),
                "bigram_floor": float(data.meta["bigram_floor"]),
                "lr_peak": float(lr),
                **extra,
            }
        )
        curves.extend(
            {**meta, **{f.name: row[f.name] for f in CONTRACT.curve}} for row in progress.curve
        )

    growth_runs = [r for r in runs if r["arm"] != SCRATCH]
    if growth_runs:
        lr = rates["growth"]
        t0 = time.perf_counter()
        first = first_stage(block, data, layer, lr, seed, dev)
        first_wall = time.perf_counter() - t0
        stage1 = float(first.progress.curve[-1]["val_loss"])
        for run in growth_runs:
            t0 = time.perf_counter()
            model, progress, jumps = grown_run(block, data, run["arm"], first, lr, seed, dev)
            record(
                run,
                model,
                progress,
                first_wall + time.perf_counter() - t0,
                {
                    "stage1_loss": stage1,
                    "jump_first": jumps[0] if jumps else math.nan,
                    "abs_jump": sum(abs(j) for j in jumps) / len(jumps) if jumps else math.nan,
                },
            )
            log.info("%s: %s, jumps %s", run_id(run), progress.status, jumps)
    for run in (r for r in runs if r["arm"] == SCRATCH):
        t0 = time.perf_counter()
        lr = rates["scratch"]
        model, progress = scratch_run(
            block, data, layer, run["factor"], run["steps"], lr, seed, dev
        )
        record(
            run,
            model,
            progress,
            time.perf_counter() - t0,
            {"stage1_loss": math.nan, "jump_first": math.nan, "abs_jump": math.nan},
        )
        log.info("%s: %s, final %s", run_id(run), progress.status, progress.curve[-1])
    for kind, rows, schema in (
        ("summary", summaries, CONTRACT.summary_schema()),
        ("curve", curves, CONTRACT.curve_schema()),
    ):
        write_parquet(rows_to_table(rows, schema, outputs[kind]), outputs[kind])
