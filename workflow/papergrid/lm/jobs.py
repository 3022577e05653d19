"""One language-model training job: data source, model, trainer, Parquet rows, checkpoint.

Every LM experiment's training rule calls :func:`train_lm_run` with its own contract
and grid coordinates, so runs record themselves the same way everywhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from papergrid import runtime
from papergrid.contract import RunContract, write_run
from papergrid.io import atomic_path
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.sources import Prepared, prepare
from papergrid.lm.trainer import TrainConfig, train
from papergrid.provenance import run_hash

log = logging.getLogger(__name__)


def load_model(path: str, device) -> GPT:
    """The model a training job saved at ``path`` (the format written below), on ``device``."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = GPT(GPTConfig(**state["config"]))
    model.load_state_dict(state["model"])
    return model.to(device)


def packed_run_paths(outputs: Mapping[str, Sequence[str]], i: int) -> dict[str, Any]:
    """:func:`train_lm_run`'s path arguments for run ``i`` of a job that trains several:
    ``outputs`` maps curve/summary/model/vocab to one path per run. No resume checkpoint:
    such a job is rerun whole."""
    paths = {f"{kind}_path": outputs[kind][i] for kind in ("curve", "summary", "model", "vocab")}
    return {**paths, "checkpoint_path": None}


def train_lm_run(
    *,
    contract: RunContract,
    run_id: str,
    run: Mapping[str, Any],
    grid: Mapping[str, Any],
    source: str,
    source_cfg: Mapping[str, Any],
    model_cfg: Mapping[str, int],
    train_cfg: Mapping[str, Any],
    device: str,
    threads: int,
    code_hash: str,
    curve_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    model_path: str | os.PathLike,
    vocab_path: str | os.PathLike,
    checkpoint_path: str | os.PathLike | None,
    linear_factory=None,
    kv_transform=None,
    after_train: Callable[[GPT, Prepared], dict[str, float]] | None = None,
    summary_extra: Mapping[str, float] | None = None,
    data: Prepared | None = None,
    init_state: Mapping[str, torch.Tensor] | None = None,
    block_size: int | None = None,
) -> str:
    """Train one run and write its curve, summary, final weights and vocabulary.

    ``run`` is the experiment's whole resolved run config (as its grid built it): with a
    hash of the initial weights it makes the run's ``config_hash``.
    ``linear_factory`` and ``kv_transform`` go to the model (quantised layers, say);
    ``after_train(model, data)`` returns extra summary metrics (post-training evaluations);
    ``summary_extra`` holds summary values known before training (what a run started
    from, say), written whatever the run's status.
    Fine-tuning passes its own ``data`` (built on the base model's tokenizer), the base
    weights as ``init_state`` and the base model's ``block_size``; ``source`` then only
    labels the run.
    """
    tcfg = TrainConfig(**train_cfg)
    runtime.configure(threads, tcfg.seed)
    dev = runtime.resolve_device(device)
    if data is None:
        data = prepare(source, source_cfg, tcfg.batch_size, tcfg.seed)
    block = block_size if block_size is not None else data.block_size
    mcfg = GPTConfig(vocab_size=len(data.tokenizer), block_size=block, **model_cfg)
    torch.manual_seed(tcfg.seed)
    hooks = {"linear_factory": linear_factory} if linear_factory else {}
    model = GPT(mcfg, kv_transform=kv_transform, **hooks)
    if init_state is not None:
        model.load_state_dict(init_state)
    resolved = {
        "source": source,
        "source_cfg": dict(source_cfg),
        "model": mcfg.to_dict(),
        "train": dict(train_cfg),
    }
    run_config_hash = run_hash(
        {**run, "source": source, "model": mcfg.to_dict()}, runtime.state_hash(model)
    )
    result = train(
        model,
        tcfg,
        data.batches,
        data.evaluate,
        dev,
        checkpoint=checkpoint_path,
        run_key={"hash": run_config_hash},
    )
    meta = {
        "run_id": run_id,
        "experiment": contract.experiment,
        "seed": tcfg.seed,
        "n_params": model.num_params(),
        "status": result.status,
        "wall_seconds": result.wall_seconds,
        "device": runtime.device_label(dev),
        "torch_version": runtime.torch_version(),
        "config_hash": run_config_hash,
        "code_hash": code_hash,
        **grid,
    }
    last = {**(summary_extra or {}), **result.curve[-1]}
    if data.final is not None and result.status == "ok":
        model.eval()
        with torch.no_grad():
            last.update(data.final(model))
    if after_train is not None and result.status == "ok":
        last.update(after_train(model, data))
    summary = {
        "steps_run": result.steps_run,
        **{k: last[k] for k in ("tokens", "flops", "train_loss")},
        **{
            f.name: last.get(f.name, data.meta.get(f.name, float("nan")))
            for f in contract.summary
            if f.name not in ("steps_run", "tokens", "flops", "train_loss")
        },
    }
    curve = [
        {f.name: row.get(f.name, float("nan")) for f in contract.curve} for row in result.curve
    ]
    write_run(contract, meta, curve, summary, curve_path, summary_path)
    with atomic_path(model_path) as tmp:
        torch.save(
            {
                "model": model.state_dict(),
                "config": mcfg.to_dict(),
                "run": resolved,
                "run_config": dict(run),
                "config_hash": run_config_hash,
            },
            tmp,
        )
    data.tokenizer.save(vocab_path)
    if checkpoint_path is not None and os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)  # the final weights are an output now
    log.info(
        "%s: status %s, %d steps in %.1fs, final %s",
        run_id,
        result.status,
        result.steps_run,
        result.wall_seconds,
        result.final,
    )
    return result.status
