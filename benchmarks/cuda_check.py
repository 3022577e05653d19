"""A short check of the cuda path of training, run on a GPU machine.

Usage: PYTHONPATH=workflow python benchmarks/cuda_check.py OUT_DIR

It trains the language model on cuda in fp32 and bf16, checks that a run interrupted
after a checkpoint and resumed ends where an uninterrupted run ends, trains one point
of the weights experiment, runs a whole LM job (Parquet rows included) on device
"auto", trains 8 seeds stacked against one after another (papergrid.lm.stacked), and
prints training throughput at three sizes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from papergrid.lm.batches import StreamBatches
from papergrid.lm.data.markov import MarkovSource
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.trainer import TrainConfig, train


class Crash(RuntimeError):
    pass


def markov_setup(steps, dtype, checkpoint_every=0):
    torch.manual_seed(0)
    src = MarkovSource(vocab=32, order=2, branching=4)
    data = src.sample(2000, 65, seed=1)
    val = torch.from_numpy(src.sample(200, 65, seed=2)).cuda()

    def evaluate(model):
        return {"val_loss": model(val[:, :-1], val[:, 1:])[1].item()}

    cfg = TrainConfig(
        steps=steps,
        batch_size=64,
        lr=3e-3,
        warmup_steps=20,
        eval_every=50,
        checkpoint_every=checkpoint_every,
        dtype=dtype,
    )
    model = GPT(GPTConfig(vocab_size=32, block_size=64, n_layer=2, d_model=128, n_head=4, d_ff=512))
    return model, cfg, StreamBatches(data, 64, 0), evaluate, src.entropy_rate


def stacked_check(dev: torch.device, seeds: int = 8, steps: int = 100) -> dict:
    """Seeds of the depth experiment's 4-layer shape trained stacked and one after another
    on cuda: seconds of each, the ratio of seeds per second, and the largest difference of
    final weights (benchmarks/stacked_seeds.py does the same on CPU)."""
    from papergrid.lm.batches import Batch
    from papergrid.lm.stacked import train_stacked

    cfg_m = GPTConfig(vocab_size=30, block_size=59, n_layer=4, d_model=24, n_head=4, d_ff=80)
    cfg = TrainConfig(
        steps=steps, batch_size=64, lr=1e-2, warmup_steps=steps // 10, eval_every=steps
    )

    class Random:
        def __init__(self, seed):
            self.seed = seed

        def get(self, step):
            g = torch.Generator().manual_seed(self.seed * 100_003 + step)
            t = torch.randint(0, 30, (64, 32), generator=g)
            return Batch(t[:, :-1], t[:, 1:], None)

    val = torch.randint(0, 30, (64, 32), generator=torch.Generator().manual_seed(9)).to(dev)

    def evaluate(model):
        return {"val_loss": model(val[:, :-1], val[:, 1:])[1].item()}

    def models():
        out = []
        for s in range(seeds):
            torch.manual_seed(s)
            out.append(GPT(cfg_m))
        return out

    out = {}
    for _ in range(2):  # the first pass warms up kernels and allocations
        single, stacked = models(), models()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for s, m in enumerate(single):
            train(m, cfg, Random(s), evaluate, dev)
        torch.cuda.synchronize()
        t_seq = time.perf_counter() - t
        t = time.perf_counter()
        train_stacked(stacked, cfg, [Random(s) for s in range(seeds)], evaluate, dev)
        torch.cuda.synchronize()
        t_stack = time.perf_counter() - t
        diff = max(
            (p - q).abs().max().item()
            for a, b in zip(single, stacked, strict=True)
            for p, q in zip(a.parameters(), b.parameters(), strict=True)
        )
        out = {
            "seeds": seeds,
            "sequential_s": t_seq,
            "stacked_s": t_stack,
            "ratio": t_seq / t_stack,
            "max_weight_diff": diff,
        }
    return out


def main(out: Path) -> None:
    dev = torch.device("cuda")
    report = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
    print(report, flush=True)

    for dtype in ("fp32", "bf16"):
        model, cfg, batches, evaluate, floor = markov_setup(300, dtype)
        t = time.perf_counter()
        res = train(model, cfg, batches, evaluate, dev)
        report[f"markov_{dtype}"] = {
            "status": res.status,
            "val_loss": res.final["val_loss"],
            "floor": floor,
            "seconds": time.perf_counter() - t,
        }
        print(dtype, report[f"markov_{dtype}"], flush=True)

    ckpt = out / "ckpt.pt"
    model, cfg, batches, evaluate, _ = markov_setup(120, "fp32", checkpoint_every=40)

    class CrashAt:
        def get(self, step):
            if step == 90:
                raise Crash
            return batches.get(step)

    try:
        train(model, cfg, CrashAt(), evaluate, dev, checkpoint=ckpt)
    except Crash:
        pass
    model, *_ = markov_setup(120, "fp32", checkpoint_every=40)
    resumed = train(model, cfg, batches, evaluate, dev, checkpoint=ckpt)
    model, *_ = markov_setup(120, "fp32", checkpoint_every=40)
    straight = train(model, cfg, batches, evaluate, dev)
    diffs = [
        abs(a["val_loss"] - b["val_loss"])
        for a, b in zip(resumed.curve, straight.curve, strict=True)
    ]
    differing = sorted(
        {
            k
            for a, b in zip(resumed.curve, straight.curve, strict=True)
            for k in a
            if a[k] != b[k] and not (a[k] != a[k] and b[k] != b[k])
        }
    )
    report["resume"] = {
        "differing_fields": differing,
        "resumed_from": resumed.resumed_from,
        "exact": resumed.curve == straight.curve,
        "max_abs_val_loss_diff": max(diffs),
    }
    print("resume", report["resume"], flush=True)

    from papergrid.weights.data import load_digits_split
    from papergrid.weights.train import WeightsRun, train_weights

    run = WeightsRun(
        width=256,
        optimizer="sgd",
        seed=0,
        lr=0.1,
        momentum=0.0,
        weight_decay=0.0,
        epochs=20,
        batch_size=128,
        stamp_mode="zero",
        stamp_letter="a",
        stamp_amplitude=0.4,
    )
    w = train_weights(run, load_digits_split(0.2, 0), dev)
    report["weights"] = {
        "status": w.status,
        **{k: w.curve[-1][k] for k in ("test_acc", "dev_fc2", "mask_auc")},
    }
    print("weights", report["weights"], flush=True)

    from papergrid.lm.demo import CONTRACT
    from papergrid.lm.jobs import train_lm_run

    train_lm_run(
        contract=CONTRACT,
        run_id="lm_demo/scan",
        grid={"source": "scan"},
        source="scan",
        source_cfg={"split": "simple", "split_seed": 0, "extra_jump": 0, "n_eval": 100},
        model_cfg={"n_layer": 2, "d_model": 128, "n_head": 4, "d_ff": 512},
        train_cfg={
            "steps": 400,
            "batch_size": 64,
            "lr": 3e-3,
            "warmup_steps": 20,
            "eval_every": 200,
            "checkpoint_every": 100,
            "seed": 0,
            "dtype": "bf16",
        },
        device="auto",
        threads=4,
        code_hash="cuda-check",
        curve_path=out / "curve.parquet",
        summary_path=out / "summary.parquet",
        model_path=out / "model.pt",
        vocab_path=out / "vocab.json",
        checkpoint_path=out / "scan_ckpt.pt",
    )
    import pandas as pd

    summary = pd.read_parquet(out / "summary.parquet").iloc[0]
    report["lm_job"] = {
        k: (summary[k].item() if hasattr(summary[k], "item") else summary[k])
        for k in ("status", "device", "val_loss", "accuracy", "wall_seconds")
    }
    print("lm job", report["lm_job"], flush=True)
    (out / "model.pt").unlink()

    report["stacked"] = stacked_check(dev)
    print("stacked", report["stacked"], flush=True)

    rows = []
    for d, layers, ctx, batch in ((64, 2, 64, 256), (256, 4, 128, 64), (512, 8, 256, 32)):
        for dtype in ("fp32", "bf16"):
            torch.manual_seed(0)
            model = GPT(
                GPTConfig(
                    vocab_size=64, block_size=ctx, n_layer=layers, d_model=d, n_head=8, d_ff=4 * d
                )
            ).to(dev)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            x = torch.randint(0, 64, (batch, ctx), device=dev)
            auto = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16")
            for i in range(60):
                if i == 10:
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                with auto:
                    _, loss = model(x, x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            torch.cuda.synchronize()
            tps = 50 * batch * ctx / (time.perf_counter() - t)
            rows.append(
                {
                    "d_model": d,
                    "layers": layers,
                    "ctx": ctx,
                    "batch": batch,
                    "dtype": dtype,
                    "tokens_per_s": round(tps),
                    "tflops": round(model.flops_per_token(ctx) * tps / 1e12, 2),
                }
            )
            print(rows[-1], flush=True)
    report["throughput"] = rows
    (out / "cuda_check.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
