"""Training across growth: one schedule over every stage, or a restart at each growth.

The shared trainer (:mod:`papergrid.lm.trainer`) makes its own optimizer and schedule per
call, so a run that grows mid-way would restart both at every stage: a 20-step warm-up
back to the peak rate undoes the preserved function within those 20 steps (issue 30).
Here a run is one loop over its steps with the trainer's AdamW, schedule and clipping
(:func:`~papergrid.lm.trainer.make_optimizer`, :func:`~papergrid.lm.trainer.lr_at`),
and growth happens between two steps:

- ``continue`` (the main arm): the rate follows one warm-up and cosine over the whole
  run, and the optimizer state of every old weight is carried into the grown model
  (:func:`papergrid.lm.growth.carry_adam_state`); new weights start with fresh, zero
  moments;
- ``restart`` (the official incremental configs, one training run per stage): a fresh
  optimizer at every growth and a warm-up and cosine over the stage alone.

Both arms share the first stage, trained on the whole run's schedule, so a seed's arms
differ only from the first growth on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from papergrid.lm.trainer import TrainConfig, lr_at

SCHEDULES = ("continue", "restart")


def stage_of(bounds: list[tuple[int, int, int]], step: int) -> tuple[int, int, int]:
    """The (first step, steps, factor) of the stage that trains ``step`` (0-based)."""
    for stage in bounds:
        if stage[0] <= step < stage[0] + stage[1]:
            return stage
    return bounds[-1]


def lr_schedule(
    total: TrainConfig, schedule: str, bounds: list[tuple[int, int, int]]
) -> Callable[[int], float]:
    """The learning rate of each step of a run of ``total.steps`` over stages ``bounds``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")

    def at(step: int) -> float:
        first, steps, _ = stage_of(bounds, step)
        if schedule == "continue" or first == 0:
            return lr_at(total, step)
        return lr_at(replace(total, steps=steps), step - first)

    return at


@dataclass
class Progress:
    """Where a run stands: steps, tokens and FLOPs so far, and its evaluations."""

    step: int = 0
    tokens: int = 0
    flops: float = 0.0
    curve: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    init: str = ""  # hash of the weights the run started from

    def copy(self) -> Progress:
        rows = [dict(r) for r in self.curve]
        return Progress(self.step, self.tokens, self.flops, rows, self.status, self.init)


def evaluate_row(model, data, progress: Progress, lr: float, train_loss: float, stage: int):
    model.eval()
    with torch.no_grad():
        metrics = data.evaluate(model)
    model.train()
    row = {
        "step": progress.step,
        "tokens": progress.tokens,
        "flops": progress.flops,
        "lr": lr,
        "train_loss": train_loss,
        "stage": stage,
        **metrics,
    }
    progress.curve.append(row)
    return row


def train_span(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    lr_of: Callable[[int], float],
    data,
    last: int,
    progress: Progress,
    stage: int,
    *,
    eval_every: int,
    grad_clip: float,
    device: torch.device,
    bf16: bool = False,
) -> None:
    """Train from ``progress.step`` up to step ``last``, evaluating every ``eval_every``
    steps (counted over the run) and at ``last``. A non-finite loss stops the run with
    status ``diverged``."""
    per_token = model.flops_per_token(data.block_size)
    total, count = 0.0, 0
    model.train()
    for step in range(progress.step, last):
        lr = lr_of(step)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = data.batches.get(step)
        x, y = batch.x.to(device), batch.y.to(device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            _, loss = model(x, y)
        if not torch.isfinite(loss):
            progress.status = "diverged"
            progress.step = step + 1
            evaluate_row(model, data, progress, lr, math.nan, stage)
            return
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        total, count = total + loss.item(), count + 1
        progress.step, progress.tokens = step + 1, progress.tokens + x.numel()
        progress.flops += per_token * x.numel()
        if progress.step % eval_every == 0 or progress.step == last:
            evaluate_row(model, data, progress, lr, total / count, stage)
            total, count = 0.0, 0
