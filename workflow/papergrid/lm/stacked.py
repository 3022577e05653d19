"""S seeds of one model shape as one stacked model: every weight gains a leading seed axis.

A model of 10^4 to 10^5 parameters spends most of a CPU training step launching small
kernels. Stacking S seeds of the same shape pays that overhead once per step instead of
S times: each linear layer becomes one batched matmul over the seed axis, attention runs
on the seeds folded into its batch, and one AdamW steps every seed's weights at once
(AdamW is elementwise, so each slice gets exactly its own seed's update).

The forward pass is written out rather than obtained with ``torch.func.vmap``: on CPU,
vmap has no batching rule for the flash-attention kernel and falls back to a loop over
the seeds, which costs more than it saves. The stacked model reads the parameter names of
:class:`papergrid.lm.model.GPT` and supports its standard form (linear layers, affine
layer norms, no KV transform); :func:`check_stackable` says what else is refused.

Seeds stay separate everywhere: a seed's loss, gradient, clipping norm and optimizer
state depend on its own slice only (a test checks each against the unstacked path).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from papergrid.lm.batches import Batch, micro_batches
from papergrid.lm.model import GPT
from papergrid.lm.trainer import Batches, TrainConfig, TrainResult, lr_at

__all__ = [
    "check_stackable",
    "stack_params",
    "unstack_into",
    "stack_batches",
    "stacked_loss",
    "clip_per_seed",
    "train_stacked",
]


def check_stackable(models: Sequence[torch.nn.Module]) -> None:
    """Raise ValueError unless ``models`` are standard GPTs of one shape."""
    if not models:
        raise ValueError("stacking needs at least one model")
    first = models[0]
    for m in models:
        if not isinstance(m, GPT):
            raise ValueError(f"only papergrid GPT models stack, got {type(m).__name__}")
        if m.cfg != first.cfg:
            raise ValueError(f"stacked models must share one shape: {m.cfg} != {first.cfg}")
        if m.cfg.layer != "linear":
            raise ValueError(f"layer {m.cfg.layer!r} does not stack (only 'linear')")
        for block in m.blocks:
            if block.attn.kv_transform is not None:
                raise ValueError("a KV transform does not stack")
            for layer in (block.attn.qkv, block.attn.out, block.mlp.fc, block.mlp.proj):
                if type(layer) is not torch.nn.Linear or layer.bias is not None:
                    raise ValueError(
                        f"only bias-free nn.Linear layers stack, got {type(layer).__name__}"
                    )
            for norm in (block.ln_1, block.ln_2):
                if norm.weight is None or norm.bias is None:
                    raise ValueError("only affine layer norms stack")
    names = [n for n, _ in first.named_parameters()]
    for m in models[1:]:
        if [n for n, _ in m.named_parameters()] != names:
            raise ValueError("stacked models must have the same parameters")


def stack_params(models: Sequence[GPT]) -> dict[str, torch.Tensor]:
    """Leaf tensors (S, *shape) holding each model's parameters, by parameter name."""
    check_stackable(models)
    named = [dict(m.named_parameters()) for m in models]
    return {
        name: torch.stack([n[name].detach() for n in named]).requires_grad_(True)
        for name in named[0]
    }


@torch.no_grad()
def unstack_into(params: dict[str, torch.Tensor], models: Sequence[GPT]) -> None:
    """Copy each seed's slice back into its model (for evaluation and saving)."""
    for s, m in enumerate(models):
        for name, p in m.named_parameters():
            p.copy_(params[name][s])


def stack_batches(batches: Sequence[Batch], pad_id: int = 0) -> Batch:
    """One (S, B, T) batch from S batches, right-padded to the longest with targets that do
    not count (mask 0). Causal attention keeps right padding out of every real position, so
    each seed's loss is its own batch's loss."""
    rows = max(b.x.size(0) for b in batches)
    length = max(b.x.size(1) for b in batches)
    S, device = len(batches), batches[0].x.device
    x = torch.full((S, rows, length), pad_id, dtype=torch.long, device=device)
    y = torch.full((S, rows, length), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((S, rows, length), device=device)
    for s, b in enumerate(batches):
        n, t = b.x.shape
        x[s, :n, :t], y[s, :n, :t] = b.x, b.y
        mask[s, :n, :t] = 1.0 if b.mask is None else b.mask
    return Batch(x, y, mask)


def _linear(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(S, N, d_in) times each seed's (d_out, d_in) weight: one batched matmul."""
    return torch.bmm(h, weight.transpose(1, 2))


def _norm(h: torch.Tensor, params: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    w, b = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    return torch.addcmul(b[:, None, :], F.layer_norm(h, h.shape[-1:]), w[:, None, :])


def stacked_loss(
    params: dict[str, torch.Tensor],
    cfg,
    batch: Batch,
    reduction: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-seed next-token loss (S,) of a stacked (S, B, T) batch, and the counted tokens (S,).

    ``reduction`` as in :meth:`GPT.forward`: ``mean`` over each seed's counted tokens, or
    their ``sum``.
    """
    x, y = batch.x, batch.y
    S, B, T = x.shape
    if T > cfg.block_size:
        raise ValueError(f"sequence of {T} tokens exceeds block_size {cfg.block_size}")
    d, nh = cfg.d_model, cfg.n_head
    seeds = torch.arange(S, device=x.device)[:, None, None]
    h = params["wte.weight"][seeds, x] + params["wpe.weight"][:, None, :T, :]  # (S, B, T, d)
    h = h.reshape(S, B * T, d)
    for i in range(cfg.n_layer):
        p = f"blocks.{i}"
        a = _linear(_norm(h, params, f"{p}.ln_1"), params[f"{p}.attn.qkv.weight"])
        q, k, v = (t.reshape(S * B, T, nh, d // nh).transpose(1, 2) for t in a.split(d, dim=2))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # seeds folded into B
        att = att.transpose(1, 2).reshape(S, B * T, d)
        h = h + _linear(att, params[f"{p}.attn.out.weight"])
        m = F.gelu(_linear(_norm(h, params, f"{p}.ln_2"), params[f"{p}.mlp.fc.weight"]))
        h = h + _linear(m, params[f"{p}.mlp.proj.weight"])
    h = _norm(h, params, "ln_f")
    logits = _linear(h, params["wte.weight"])  # tied head, (S, B*T, vocab)
    nll = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none"
    ).view(S, B * T)
    mask = batch.mask.reshape(S, B * T).to(nll.dtype)
    total = (nll * mask).sum(1)
    counted = mask.sum(1)
    loss = total if reduction == "sum" else total / counted.clamp_min(1)
    return loss, counted


@torch.no_grad()
def clip_per_seed(params: dict[str, torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clip each seed's gradient to ``max_norm`` in its own global norm, as
    ``torch.nn.utils.clip_grad_norm_`` does for one model; returns the (S,) norms."""
    grads = [p.grad for p in params.values() if p.grad is not None]
    S = grads[0].size(0)
    sq = torch.stack([g.reshape(S, -1).pow(2).sum(1) for g in grads]).sum(0)
    norms = sq.sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))
    return norms


def _to(batch: Batch, device: torch.device) -> Batch:
    mask = None if batch.mask is None else batch.mask.to(device)
    return Batch(batch.x.to(device), batch.y.to(device), mask)


def _optimizer(params: dict[str, torch.Tensor], cfg: TrainConfig) -> torch.optim.AdamW:
    """:func:`papergrid.lm.trainer.make_optimizer`'s groups, read on the unstacked shapes
    (a stacked matrix has three dimensions, a stacked norm two)."""
    decay = [p for p in params.values() if p.dim() - 1 >= 2]
    no_decay = [p for p in params.values() if p.dim() - 1 < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), foreach=True)


def _stacked_step(params, cfg: TrainConfig, model: GPT, batches: Sequence[Batch], autocast):
    """Backpropagate one step of every seed over its micro-batches, as
    :func:`papergrid.lm.trainer._next_token_step` does for one; returns per-seed
    (loss sums, counted targets, tokens, FLOPs) and whether each seed's losses were finite."""
    S = len(batches)
    sums, counted, tokens, flops = torch.zeros(S), torch.zeros(S), [0] * S, [0.0] * S
    finite = torch.ones(S, dtype=torch.bool)
    split = [micro_batches(b, cfg.grad_accum) for b in batches]
    if len({len(m) for m in split}) != 1:
        raise ValueError("every seed's batch must split into as many micro-batches")
    for micro in zip(*split, strict=True):
        stacked = stack_batches(micro)
        with autocast:
            loss, n = stacked_loss(params, model.cfg, stacked, cfg.loss_reduction)
        ok = torch.isfinite(loss.detach())
        finite &= ok.cpu()
        # a diverged seed contributes no gradient; the others' are unaffected
        weight = 1.0 if cfg.loss_reduction == "sum" else 1.0 / cfg.grad_accum
        torch.where(ok, loss, torch.zeros_like(loss)).sum().mul(weight).backward()
        scale = torch.ones_like(n) if cfg.loss_reduction == "sum" else n
        sums += (loss.detach().float() * scale).cpu()
        counted += n.cpu()
        for s, b in enumerate(micro):
            tokens[s] += b.x.numel()
            flops[s] += model.flops_per_token(b.x.size(1)) * b.x.numel()
    return sums, counted, tokens, flops, finite


def train_stacked(
    models: Sequence[GPT],
    cfg: TrainConfig,
    batches: Sequence[Batches],
    evaluate: Callable[[Any], dict[str, float]],
    device: torch.device,
) -> list[TrainResult]:
    """Train S models of one shape together, seed ``s`` on ``batches[s]``; the same
    schedule, clipping and evaluation as :func:`papergrid.lm.trainer.train` for each.

    Each model ends with its own trained weights, and each result carries its own curve
    and status: a seed whose loss turns non-finite stops there (``diverged``) and keeps
    its weights of that step, while the others train on. Checkpoints and custom loss
    functions are not supported: the stacked path is for the plain next-token loss.
    """
    if len(models) != len(batches):
        raise ValueError(f"{len(models)} models but {len(batches)} batch streams")
    if cfg.checkpoint_every:
        raise ValueError("train_stacked writes no checkpoints: set checkpoint_every to 0")
    for m in models:
        m.to(device)
    params = stack_params(models)
    opt = _optimizer(params, cfg)
    S = len(models)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.dtype == "bf16")
    curves: list[list[dict[str, Any]]] = [[] for _ in range(S)]
    status = ["ok"] * S
    live = torch.ones(S, dtype=torch.bool)
    acc = torch.zeros(S, 2, dtype=torch.float64)  # per seed: sum of step means, steps
    tokens, flops = [0] * S, [0.0] * S

    def eval_rows(step: int, seeds) -> None:
        unstack_into(params, models)
        for s in seeds:
            m = models[s]
            m.eval()
            with torch.no_grad(), autocast:
                metrics = evaluate(m)
            m.train()
            mean = float(acc[s, 0] / acc[s, 1]) if acc[s, 1] else math.nan
            curves[s].append(
                {
                    "step": step,
                    "tokens": tokens[s],
                    "flops": flops[s],
                    "lr": lr_at(cfg, max(0, step - 1)),
                    "train_loss": mean,
                    **metrics,
                }
            )

    t0 = time.perf_counter()
    eval_rows(0, range(S))
    for m in models:
        m.train()
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        got = [_to(b.get(step), device) for b in batches]
        opt.zero_grad(set_to_none=True)
        sums, counted, step_tokens, step_flops, finite = _stacked_step(
            params, cfg, models[0], got, autocast
        )
        for s in torch.nonzero(live).flatten().tolist():
            tokens[s] += step_tokens[s]
            flops[s] += step_flops[s]
        newly = live & ~finite
        for s in torch.nonzero(newly).flatten().tolist():
            status[s] = "diverged"
            eval_rows(step + 1, [s])
            curves[s][-1]["train_loss"] = math.nan
        live &= finite
        if not bool(live.any()):
            break
        dead = (~live).to(device)
        with torch.no_grad():
            for p in params.values():
                if p.grad is not None:
                    p.grad[dead] = 0.0
        if cfg.grad_clip > 0:
            clip_per_seed(params, cfg.grad_clip)
        frozen = {} if live.all() else {n: p.detach()[dead].clone() for n, p in params.items()}
        opt.step()
        with torch.no_grad():
            for n, old in frozen.items():  # a diverged seed keeps the weights it stopped at
                params[n][dead] = old
        means = sums / counted.clamp_min(1)
        acc[live, 0] += means[live].double()
        acc[live, 1] += 1
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            eval_rows(done, [s for s in range(S) if live[s]])
            acc[live] = 0.0
    unstack_into(params, models)
    wall = time.perf_counter() - t0
    results = []
    for s in range(S):
        final = {k: v for k, v in curves[s][-1].items() if isinstance(v, float)}
        st = status[s]
        if st == "ok" and not all(math.isfinite(v) for k, v in final.items() if k != "train_loss"):
            st = "failed"
        results.append(
            TrainResult(
                status=st,
                curve=curves[s],
                final=final,
                steps_run=curves[s][-1]["step"],
                tokens=tokens[s],
                flops=flops[s],
                # the job's time, shared equally: what a seed cost in the stacked run
                wall_seconds=wall / S,
            )
        )
    return results
