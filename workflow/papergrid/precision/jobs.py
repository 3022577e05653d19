"""The precision experiment's training job: every precision of one cell, then PTQ."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from papergrid.lm.model import GPT
from papergrid.lm.sources import Prepared
from papergrid.precision.grid import CONTRACT, FULL, PTQ_BITS, bits_value, run_id
from papergrid.precision.quant import QuantLinear, quantize_weights_rtn


def train_cell(
    runs: Sequence[Mapping[str, Any]],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Sequence[str]],
) -> list[str]:
    """Train every precision of one cell; ``outputs`` maps curve/summary/model/vocab to paths."""
    from papergrid.lm.jobs import packed_run_paths, train_lm_run
    from papergrid.precision.quant import kv_quantiser, quant_linear_factory

    statuses = []
    for i, run in enumerate(runs):
        bits = None if run["train_bits"] == FULL else int(run["train_bits"])
        q = set(run["quantise"])
        statuses.append(
            train_lm_run(
                contract=CONTRACT,
                run_id=run_id(run),
                run=run,
                grid={
                    "d_model": run["d_model"],
                    "tokens_per_param": run["tokens_per_param"],
                    "train_bits": bits_value(run["train_bits"]),
                    "n_quantised": len(q),
                },
                source="markov",
                source_cfg=run["markov"],
                model_cfg=run["model"],
                train_cfg=run["train"],
                device=device,
                threads=threads,
                code_hash=code_hash,
                **packed_run_paths(outputs, i),
                linear_factory=quant_linear_factory(
                    bits if "weights" in q else None, bits if "activations" in q else None
                ),
                kv_transform=kv_quantiser(bits if "kv" in q else None),
                after_train=lambda model, data: ptq_losses(model, data, PTQ_BITS),
            )
        )
    return statuses


def ptq_losses(model: GPT, data: Prepared, bits: Sequence[int]) -> dict[str, float]:
    """Held-out loss after round-to-nearest quantisation of every linear weight."""
    out = {}
    for b in bits:
        q = copy.deepcopy(model)
        for m in q.modules():
            if isinstance(m, QuantLinear):
                m.w_bits = None  # the quantised weights are used as they are
        quantize_weights_rtn(q, b)
        q.eval()
        with torch.no_grad():
            out[f"val_loss_ptq{b}"] = data.evaluate(q)["val_loss"]
    return out
