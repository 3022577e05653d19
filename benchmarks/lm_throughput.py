"""Training throughput of the language-model core against this machine's matmul peak.

Usage: python benchmarks/lm_throughput.py [--threads N] [--steps S] [--dtype fp32|bf16]

For each of three model sizes it trains for a few hundred steps (after warm-up) with
the real trainer's optimizer and clipping, and prints tokens per second, achieved model
FLOP/s (model.flops_per_token, the count every experiment uses) and that figure as a
fraction of the dense matmul peak measured in the same process at the same dtype.
"""

from __future__ import annotations

import argparse
import time

import torch

from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.trainer import TrainConfig, make_optimizer

SIZES = (  # (d_model, n_layer, context, batch)
    (64, 2, 64, 32),
    (128, 4, 128, 16),
    (256, 4, 128, 16),
)


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """Best FLOP/s of an n x n matmul over ``reps`` timed repetitions."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def train_rate(d, layers, ctx, batch, steps, dtype: str) -> tuple[float, float, int]:
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=64, block_size=ctx, n_layer=layers, d_model=d, n_head=4, d_ff=4 * d)
    )
    opt = make_optimizer(model, TrainConfig(steps=steps, batch_size=batch, lr=1e-3, warmup_steps=0))
    x = torch.randint(0, 64, (batch, ctx))
    y = torch.randint(0, 64, (batch, ctx))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16")

    def step():
        with autocast:
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(10):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t) / steps
    return batch * ctx / dt, model.flops_per_token(ctx) * batch * ctx / dt, model.num_params()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak(torch.float32 if args.dtype == "fp32" else torch.bfloat16)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.dtype}, "
        f"{args.steps} timed steps per size"
    )
    print(f"dense matmul peak (2048^3, best of 10): {peak / 1e9:.1f} GFLOP/s")
    print("| d_model | layers | context | batch | N (non-emb.) | tokens/s | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for d, layers, ctx, batch in SIZES:
        tps, flops, n = train_rate(d, layers, ctx, batch, args.steps, args.dtype)
        print(
            f"| {d} | {layers} | {ctx} | {batch} | {n:,} | {tps:,.0f} | {flops / 1e9:.1f} | "
            f"{flops / peak:.0%} |"
        )


if __name__ == "__main__":
    main()
