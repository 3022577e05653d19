"""Where a training step of each language-model experiment spends its time.

Usage: python benchmarks/step_profile.py [--threads 1] [--steps 30] [--only SUBSTRING]

For each experiment's step at its default shape (benchmarks/lm_shapes.py): time per step
(median of ``--steps`` timed steps after warm-up: forward, backward, clipping and AdamW, as
the trainer runs them), training FLOPs per step (the count every experiment records),
achieved GFLOP/s and its share of this machine's dense matmul peak measured in the same
process, and, from the PyTorch profiler, the shares of self CPU time in the matmul kernels
(mm, bmm, addmm), in the attention kernel (scaled dot-product attention, forward and
backward) and in everything else (elementwise, norms, optimizer, dispatch).

A step whose time is mostly outside the big kernels is bound by per-kernel overhead, which
training seeds stacked (papergrid.lm.stacked) pays once per step instead of once per seed.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from lm_shapes import Shape, seeded_models, shapes
from lm_throughput import matmul_peak
from torch.profiler import ProfilerActivity, profile

from papergrid.lm.batches import micro_batches
from papergrid.lm.trainer import TrainConfig, make_optimizer

MATMUL = ("aten::mm", "aten::bmm", "aten::addmm")


def step_fn(shape: Shape):
    """One training step of ``shape``'s experiment, and its FLOPs (reference pass included)."""
    (model,) = seeded_models(shape, 1)
    opt = make_optimizer(model, TrainConfig(steps=1, batch_size=1, lr=1e-3, warmup_steps=0))
    reference = copy.deepcopy(model).eval() if shape.reference_pass else None
    batch = shape.batches(0).get(0)
    micro = micro_batches(batch, shape.grad_accum)
    per = sum(model.flops_per_token(m.x.size(1)) * m.x.numel() for m in micro)
    if reference is not None:  # a forward pass is a third of a training pass
        per += per / 3

    def step():
        opt.zero_grad(set_to_none=True)
        if reference is not None:
            with torch.no_grad():
                reference(batch.x, batch.y)
        for m in micro:
            _, loss = model(m.x, m.y, loss_mask=m.mask)
            (loss / len(micro)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step, per


def time_step(step, n: int) -> float:
    for _ in range(5):
        step()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def shares(step, n: int = 10) -> tuple[float, float, float]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            step()
    total = mm = att = 0.0
    for e in prof.key_averages():
        total += e.self_cpu_time_total
        if e.key in MATMUL:
            mm += e.self_cpu_time_total
        elif "scaled_dot_product" in e.key:
            att += e.self_cpu_time_total
    return mm / total, att / total, 1 - (mm + att) / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--only", default="", help="profile the shapes whose name contains this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak(torch.float32)
    print(f"torch {torch.__version__}, {args.threads} threads, fp32, median of {args.steps} steps")
    print(f"dense matmul peak (2048^3, best of 10): {peak / 1e9:.1f} GFLOP/s\n")
    print(
        "| step | N (non-emb.) | tokens/step | ms/step | GFLOP/step | GFLOP/s | of peak "
        "| matmul | attention | other |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for shape in shapes():
        if args.only not in shape.name:
            continue
        step, flops = step_fn(shape)
        dt = time_step(step, args.steps)
        mm, att, other = shares(step)
        batch = shape.batches(0).get(0)
        print(
            f"| {shape.name} | {shape.model.non_embedding_params:,} | {batch.x.numel():,} "
            f"| {dt * 1e3:.1f} | {flops / 1e9:.3f} | {flops / dt / 1e9:.1f} "
            f"| {flops / dt / peak:.1%} | {mm:.0%} | {att:.0%} | {other:.0%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
