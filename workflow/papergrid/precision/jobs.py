"""The precision experiment's training job: every seed and setting of one (size, D/N)
pair, each evaluated after PTQ."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from papergrid.lm.model import GPT
from papergrid.lm.sources import Prepared
from papergrid.precision.grid import CONTRACT, PTQ_BITS, grid_row, parse_setting, run_id
from papergrid.precision.quant import QuantLinear, quantize_weights_rtn


def train_cell(
    runs: Sequence[Mapping[str, Any]],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Sequence[str]],
) -> list[str]:
    """Train every run of one job; ``outputs`` maps curve/summary/model/vocab to paths.

    The runs of a seed share one data set (their schedule is the cell's), prepared once."""
    from papergrid.lm.jobs import packed_run_paths, train_lm_run
    from papergrid.lm.sources import prepare
    from papergrid.precision.quant import kv_quantiser, quant_linear_factory

    statuses, prepared = [], {}
    for i, run in enumerate(runs):
        setting = parse_setting(run["setting"])
        spec, tensors = setting["spec"], setting["tensors"]
        train = run["train"]
        key = (train["seed"], train["batch_size"], train["steps"])
        if key not in prepared:
            prepared = {key: prepare("markov", run["markov"], train["batch_size"], train["seed"])}
        data = prepared[key]
        statuses.append(
            train_lm_run(
                contract=CONTRACT,
                run_id=run_id(run),
                run=run,
                grid=grid_row(run),
                source="markov",
                source_cfg=run["markov"],
                model_cfg=run["model"],
                train_cfg=train,
                device=device,
                threads=threads,
                code_hash=code_hash,
                **packed_run_paths(outputs, i),
                linear_factory=quant_linear_factory(
                    spec if "weights" in tensors else None,
                    spec if "activations" in tensors else None,
                ),
                kv_transform=kv_quantiser(spec if "kv" in tensors else None),
                after_train=lambda model, data: ptq_losses(model, data, PTQ_BITS),
                summary_extra={
                    "val_floor": float(data.meta["val_floor"]),
                    "val_unigram": float(data.meta["unigram"]),
                    "batch_size": int(train["batch_size"]),
                },
                data=data,
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
