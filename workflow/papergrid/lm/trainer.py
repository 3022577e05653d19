"""The one training loop of every language-model experiment.

AdamW with linear warmup and cosine decay, gradient clipping, evaluation every
``eval_every`` steps, atomic checkpoints every ``checkpoint_every`` steps, and resume:
a job killed at any point and restarted continues from its last checkpoint and ends
with the same metrics as an uninterrupted run on the same machine (batches depend only
on the step, and the checkpoint holds the model, the optimizer and the partial curve).
A NaN or infinite training loss stops the run with status ``diverged``.

The loss is next-token cross-entropy unless a ``loss_fn(model, batch, step)`` is given: it
returns a :class:`StepOutput` (the loss to minimise, metrics to log, and the tokens and
FLOPs the step spent, sampling included), which is how preference tuning, RL and decoding
heads train with the same schedule, clipping, evaluation, checkpoints and resume.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm import tqdm

from papergrid.io import atomic_path
from papergrid.lm.batches import Batch, micro_batches
from papergrid.lm.model import GPT
from papergrid.provenance import config_hash

log = logging.getLogger(__name__)
DTYPES = ("fp32", "bf16")
REDUCTIONS = ("mean", "sum")


class Batches(Protocol):
    def get(self, step: int) -> Any: ...


@dataclass
class StepOutput:
    """What a custom loss function returns for one step."""

    loss: torch.Tensor  # minimised as it is
    metrics: dict[str, float] = field(default_factory=dict)  # logged: mean since last eval
    tokens: int = 0  # tokens the step processed
    flops: float = 0.0  # training FLOPs of the step, generation and reference passes included


LossFn = Callable[[torch.nn.Module, Any, int], StepOutput]


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    lr: float  # peak learning rate
    warmup_steps: int
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio (Chinchilla: 0.1)
    weight_decay: float = 0.1  # on matrices only, not on norms or embeddings' biases
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    eval_every: int = 100
    checkpoint_every: int = 0  # 0: no checkpoints
    seed: int = 0
    dtype: str = "fp32"  # fp32 | bf16 (autocast)
    loss_reduction: str = "mean"  # mean over counted tokens | sum (Tülu 3 SFT)
    # micro-batches per step; with "mean" each micro-batch's token mean counts equally, with
    # "sum" every token of the step counts equally (Tülu 3: sum, under accumulation)
    grad_accum: int = 1

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.loss_reduction not in REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {REDUCTIONS}")
        for name in ("steps", "batch_size", "eval_every", "grad_accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1")
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError("warmup_steps must be in [0, steps]")
        if self.grad_accum > self.batch_size:
            raise ValueError("grad_accum must not exceed batch_size (one row per micro-batch)")


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for 0-based ``step``: linear warmup, then cosine to lr * min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # foreach: one kernel per group instead of one per tensor. The updates are the same
    # floating-point operations in the same order (a test checks bit-identity), and on CPU,
    # where PyTorch defaults to per-tensor, an optimizer step of an 8-layer tiny model takes
    # half as long.
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), foreach=True)


@dataclass
class TrainResult:
    status: str  # ok | diverged | failed
    curve: list[dict[str, Any]]
    final: dict[str, float]
    steps_run: int
    tokens: int
    flops: float
    wall_seconds: float
    resumed_from: int = 0
    extra: dict = field(default_factory=dict)


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train(
    model: GPT | torch.nn.Module,
    cfg: TrainConfig,
    batches: Batches,
    evaluate: Callable[[Any], dict[str, float]],
    device: torch.device,
    checkpoint: str | os.PathLike | None = None,
    progress=None,
    run_key: dict | None = None,
    loss_fn: LossFn | None = None,
) -> TrainResult:
    """Train ``model`` in place. ``evaluate(model)`` returns metrics such as val_loss.

    ``run_key`` identifies the run (its resolved config); a checkpoint written for a
    different key is ignored rather than resumed. ``loss_fn`` replaces the next-token loss
    (see the module docstring); ``model`` is then any module (a policy with a value head,
    say), and ``grad_accum`` does not apply.
    """
    shape = model.cfg.to_dict() if hasattr(model, "cfg") else type(model).__name__
    key = config_hash({"train": asdict(cfg), "model": shape, **(run_key or {})})
    model.to(device)
    opt = make_optimizer(model, cfg)
    ckpt_path = Path(checkpoint) if checkpoint else None
    start, curve, acc, tokens, flops = 0, [], [0.0, 0], 0, 0.0
    logged: dict[str, list[float]] = {}  # loss_fn metrics since the last evaluation: [sum, n]
    if ckpt_path is not None and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if state["key"] == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start, curve, acc = state["step"], state["curve"], state["acc"]
            tokens, flops = state["tokens"], state["flops"]
            logged = state.get("logged", {})
            log.info("resumed from checkpoint at step %d", start)
        else:
            log.warning("ignoring checkpoint %s written for another run config", ckpt_path)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.dtype == "bf16")

    def eval_row(step: int) -> dict[str, Any]:
        model.eval()
        with torch.no_grad(), autocast:
            metrics = evaluate(model)
        model.train()
        train_loss = acc[0] / acc[1] if acc[1] else math.nan
        return {
            "step": step,
            "tokens": tokens,
            "flops": flops,
            "lr": lr_at(cfg, max(0, step - 1)),
            "train_loss": train_loss,
            **{k: s / n for k, (s, n) in logged.items() if n},
            **metrics,
        }

    t0 = time.perf_counter()
    if start == 0 and not curve:
        curve.append(eval_row(0))
    status = "ok"
    model.train()
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        file=progress or sys.stderr,
        mininterval=10,
        desc="train",
        ascii=True,
    )
    step = start
    for step in range(start, cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        batch = batches.get(step)
        opt.zero_grad(set_to_none=True)
        if loss_fn is None:
            finite, step_mean, t_step, f_step = _next_token_step(
                model, cfg, batch, device, autocast
            )
        else:
            with autocast:
                out = loss_fn(model, batch, step)
            finite = bool(torch.isfinite(out.loss))
            if finite:
                out.loss.backward()
            step_mean, t_step, f_step = out.loss.item(), out.tokens, out.flops
            for k, v in out.metrics.items():
                entry = logged.setdefault(k, [0.0, 0])
                entry[0] += float(v)
                entry[1] += 1
        tokens += t_step
        flops += f_step
        if not finite:
            status = "diverged"
            log.warning("non-finite loss at step %d: stopping", step)
            curve.append({**eval_row(step + 1), "train_loss": math.nan})
            break
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        acc[0] += step_mean
        acc[1] += 1
        bar.update(1)
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            curve.append(eval_row(done))
            acc, logged = [0.0, 0], {}
        if ckpt_path is not None and cfg.checkpoint_every and done % cfg.checkpoint_every == 0:
            _save_checkpoint(
                ckpt_path,
                {
                    "key": key,
                    "step": done,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "curve": curve,
                    "acc": acc,
                    "tokens": tokens,
                    "flops": flops,
                    "logged": logged,
                },
            )
    bar.close()
    final = {k: v for k, v in curve[-1].items() if isinstance(v, float)}
    if status == "ok" and not all(math.isfinite(v) for k, v in final.items() if k != "train_loss"):
        status = "failed"
    return TrainResult(
        status=status,
        curve=curve,
        final=final,
        steps_run=curve[-1]["step"],
        tokens=tokens,
        flops=flops,
        wall_seconds=time.perf_counter() - t0,
        resumed_from=start,
    )


def _next_token_step(model, cfg: TrainConfig, batch: Batch, device, autocast):
    """Backpropagate the next-token loss of one step over its micro-batches; returns
    (finite, mean loss per counted token, tokens, FLOPs)."""
    step_sum, counted, tokens, flops = 0.0, 0, 0, 0.0
    for micro in micro_batches(batch, cfg.grad_accum):
        x, y = micro.x.to(device), micro.y.to(device)
        mask = None if micro.mask is None else micro.mask.to(device)
        with autocast:
            _, loss = model(x, y, loss_mask=mask, reduction=cfg.loss_reduction)
        if not torch.isfinite(loss):
            return False, math.nan, tokens, flops
        n_counted = x.numel() if mask is None else int(mask.sum().item())
        (loss if cfg.loss_reduction == "sum" else loss / cfg.grad_accum).backward()
        step_sum += loss.item() * (1 if cfg.loss_reduction == "sum" else n_counted)
        counted += n_counted
        tokens += x.numel()
        flops += model.flops_per_token(x.size(1)) * x.numel()
    return True, step_sum / max(1, counted), tokens, flops
