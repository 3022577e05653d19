"""Seeds trained stacked against the same seeds trained one after another, side by side.

Usage: python benchmarks/stacked_seeds.py [--threads 1] [--steps 30] [--seeds 1 2 4 8]
                                          [--repeats 3] [--only SUBSTRING]

For each language-model step that stacks (benchmarks/lm_shapes.py; precision's fake
quantisation, TokenFormer's parameter attention and DPO's loss do not), and each S, it
trains S seeds for ``--steps`` steps with the real trainer (papergrid.lm.trainer.train,
one seed after another) and with papergrid.lm.stacked.train_stacked (one stacked model),
from the same initialisations on the same batches. It prints the median seconds of each
path over ``--repeats`` repetitions, the ratio of seeds per second (stacked over
sequential: above 1 the stacked path is faster) and the largest differences between the
two paths' final weights and validation losses. The default is one thread: the workflow's
training jobs run with one thread each, two at a time on a 2-core machine. The bar for
adopting the stacked path in an experiment is a ratio of at least 1.5 at its seed count.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import torch
from lm_shapes import Shape, seeded_models, shapes

from papergrid.lm.stacked import train_stacked
from papergrid.lm.trainer import TrainConfig, train

CPU = torch.device("cpu")


def evaluator(shape: Shape):
    batch = shape.batches(10_000).get(0)

    def evaluate(model) -> dict[str, float]:
        return {"val_loss": model(batch.x, batch.y, loss_mask=batch.mask)[1].item()}

    return evaluate


def compare(shape: Shape, n: int, steps: int) -> tuple[float, float, float, float]:
    """Seconds of the sequential and the stacked path, and their largest differences."""
    cfg = TrainConfig(
        steps=steps,
        batch_size=shape.batches(0).get(0).x.size(0),
        lr=3e-3,
        warmup_steps=max(1, steps // 10),
        eval_every=steps,
        grad_accum=shape.grad_accum,
    )
    evaluate = evaluator(shape)
    streams = [shape.batches(s) for s in range(n)]
    single = seeded_models(shape, n)
    t = time.perf_counter()
    want = [
        train(m, cfg, b, evaluate, CPU, progress=io.StringIO())
        for m, b in zip(single, streams, strict=True)
    ]
    t_seq = time.perf_counter() - t
    stacked = seeded_models(shape, n)
    t = time.perf_counter()
    got = train_stacked(stacked, cfg, streams, evaluate, CPU)
    t_stack = time.perf_counter() - t
    dw = max(
        (p - q).abs().max().item()
        for a, b in zip(single, stacked, strict=True)
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )
    dl = max(abs(g.final["val_loss"] - w.final["val_loss"]) for g, w in zip(got, want, strict=True))
    return t_seq, t_stack, dw, dl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--only", default="", help="the shapes whose name contains this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), fp32, {args.steps} steps per run, "
        f"median of {args.repeats}"
    )
    print(
        "| step | S | sequential s | stacked s | seeds/s ratio | max weight diff "
        "| max val-loss diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for shape in shapes():
        if not shape.stackable or args.only not in shape.name:
            continue
        for n in args.seeds:
            compare(shape, n, 2)  # warm-up: first-call allocations and kernel selection
            runs = [compare(shape, n, args.steps) for _ in range(args.repeats)]
            t_seq = statistics.median(r[0] for r in runs)
            t_stack = statistics.median(r[1] for r in runs)
            dw, dl = max(r[2] for r in runs), max(r[3] for r in runs)
            print(
                f"| {shape.name} | {n} | {t_seq:.2f} | {t_stack:.2f} | {t_seq / t_stack:.2f} "
                f"| {dw:.1e} | {dl:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
