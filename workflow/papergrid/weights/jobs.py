"""What each Snakemake job of the weights experiment does, callable without Snakemake.

Heavy modules (torch, scipy, pandas, seaborn) are imported inside the job that needs
them: every job is a fresh process, and on a 2-core machine an unneeded scipy.stats
or torch import costs seconds per job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from papergrid.contract import write_run
from papergrid.io import atomic_path
from papergrid.provenance import run_hash
from papergrid.weights.schema import CONTRACT

log = logging.getLogger(__name__)


def run_id(width: int, optimizer: str, seed: int) -> str:
    return f"weights/w{width}-{optimizer}-s{seed}"


def train_job(
    runs: Sequence[Mapping[str, Any]],
    data_path: str | os.PathLike,
    device: str,
    threads: int,
    code_hash: str,
    curve_paths: Sequence[str | os.PathLike],
    summary_paths: Sequence[str | os.PathLike],
    matrices_paths: Sequence[str | os.PathLike],
) -> list[str]:
    """Train each run in turn, writing its curve, summary and stamped matrices. Returns statuses.

    Runs are independent: each is seeded from its own config, so packing several into
    one process gives the same numbers as training them one per process.
    """
    from papergrid import runtime
    from papergrid.weights.data import load_dataset

    if not len(runs) == len(curve_paths) == len(summary_paths) == len(matrices_paths):
        raise ValueError("train_job: one curve, summary and matrices path per run")
    data = load_dataset(data_path)
    dev = runtime.resolve_device(device)
    return [
        train_one(run, data, dev, threads, code_hash, c, s, m)
        for run, c, s, m in zip(runs, curve_paths, summary_paths, matrices_paths, strict=True)
    ]


def train_one(run, data, dev, threads, code_hash, curve_path, summary_path, matrices_path) -> str:
    from papergrid import runtime
    from papergrid.weights.train import WeightsRun, train_weights

    cfg = WeightsRun(**run)
    runtime.configure(threads, cfg.seed)
    result = train_weights(cfg, data, dev)
    meta = {
        "run_id": run_id(cfg.width, cfg.optimizer, cfg.seed),
        "experiment": CONTRACT.experiment,
        "seed": cfg.seed,
        "n_params": result.n_params,
        "status": result.status,
        "wall_seconds": result.wall_seconds,
        "device": runtime.device_label(dev),
        "torch_version": runtime.torch_version(),
        "config_hash": run_hash(run, result.init_hash),
        "code_hash": code_hash,
        "width": cfg.width,
        "optimizer": cfg.optimizer,
    }
    last = dict(result.curve[-1])
    summary = {"epochs_run": last.pop("epoch"), **{k: v for k, v in last.items() if k != "step"}}
    write_run(CONTRACT, meta, result.curve, summary, curve_path, summary_path)
    with atomic_path(matrices_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, w_init=result.w_init, w_final=result.w_final, mask=result.mask)
    log.info("%s: status %s in %.1fs", meta["run_id"], result.status, result.wall_seconds)
    return result.status
