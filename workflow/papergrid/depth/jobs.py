"""The depth experiment's training job: every seed of one (budget, depth) cell.

Each seed trains two models of the same shape: one on the Markov language (its
held-out loss is the language-modelling measurement) and one on SCAN as a prefix LM
(losses and greedy exact match on every composition test), then times inference.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from papergrid import runtime
from papergrid.depth.grid import CONTRACT, run_id
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.sources import prepare
from papergrid.lm.trainer import TrainConfig, train


def language_model_loss(
    markov: Mapping[str, Any], model_cfg: Mapping[str, int], train_cfg: Mapping[str, Any], device
) -> tuple[float, float]:
    """(held-out loss, entropy floor) of a model of this shape trained on the Markov source."""
    tcfg = TrainConfig(**train_cfg)
    data = prepare("markov", markov, tcfg.batch_size, tcfg.seed)
    torch.manual_seed(tcfg.seed)
    model = GPT(GPTConfig(vocab_size=len(data.tokenizer), block_size=data.block_size, **model_cfg))
    result = train(model, tcfg, data.batches, data.evaluate, device)
    loss = result.final.get("val_loss", float("nan")) if result.status == "ok" else float("nan")
    return loss, data.meta["entropy_floor"]


def us_per_token(model: GPT, batch: int = 16, seq_len: int = 32, repeats: int = 9) -> float:
    """Median wall time of one inference forward pass, in microseconds per token."""
    device = next(model.parameters()).device
    x = torch.zeros((batch, min(seq_len, model.cfg.block_size)), dtype=torch.long, device=device)
    model.eval()
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times) / x.numel()


def train_cell(
    runs: Sequence[Mapping[str, Any]],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Sequence[str]],
) -> list[str]:
    """Train every seed of one cell; ``outputs`` maps curve/summary/model/vocab to paths."""
    from papergrid.lm.jobs import packed_run_paths, train_lm_run

    statuses = []
    for i, run in enumerate(runs):
        runtime.configure(threads, run["seed"])
        dev = runtime.resolve_device(device)
        lm_loss, floor = language_model_loss(run["markov"], run["model"], run["lm_train"], dev)

        def after_train(model, data, lm_loss=lm_loss, floor=floor):
            return {"lm_loss": lm_loss, "lm_floor": floor, "us_per_token": us_per_token(model)}

        statuses.append(
            train_lm_run(
                contract=CONTRACT,
                run_id=run_id(run),
                run=run,
                grid={
                    "budget": run["budget"],
                    "depth": run["depth"],
                    "d_model": run["model"]["d_model"],
                    "d_ff": run["model"]["d_ff"],
                    "narrow": run["narrow"],
                },
                source="scan_composition",
                source_cfg=run["scan"],
                model_cfg=run["model"],
                train_cfg=run["train"],
                device=device,
                threads=threads,
                code_hash=code_hash,
                **packed_run_paths(outputs, i),
                after_train=after_train,
            )
        )
    return statuses
