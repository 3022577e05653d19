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


def resolve_lr(run: Mapping[str, Any], tuned_lr: float | None) -> dict[str, Any]:
    """``run`` with ``lr: tuned`` replaced by the rate the tuning job chose."""
    if run["lr"] != "tuned":
        return dict(run)
    if tuned_lr is None:
        raise ValueError(
            f"{run_id(run['width'], run['optimizer'], run['seed'])}: lr is "
            "'tuned' but the job got no tuning result"
        )
    return {**run, "lr": float(tuned_lr)}


def read_tuned_lr(path: str | os.PathLike | None) -> float | None:
    import json

    if not path:
        return None
    with open(path) as fh:
        return float(json.load(fh)["lr"])


def train_job(
    runs: Sequence[Mapping[str, Any]],
    data_path: str | os.PathLike,
    tune_path: str | os.PathLike | None,
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
    tuned = read_tuned_lr(tune_path)
    return [
        train_one(resolve_lr(run, tuned), data, dev, threads, code_hash, c, s, m)
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
    summary = {
        "epochs_run": last.pop("epoch"),
        "lr": cfg.lr,
        **result.extra,
        **{k: v for k, v in last.items() if k != "step"},
    }
    write_run(CONTRACT, meta, result.curve, summary, curve_path, summary_path)
    with atomic_path(matrices_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, w_init=result.w_init, w_final=result.w_final, mask=result.mask)
    log.info("%s: status %s in %.1fs", meta["run_id"], result.status, result.wall_seconds)
    return result.status


def validation_split(data, fraction: float, seed: int):
    """The training set cut in two, stratified by class: a Dataset whose ``test`` part is
    the validation part. The test set is never read while tuning."""
    from papergrid.weights.data import Dataset

    rng = np.random.default_rng(seed)
    val = np.zeros(len(data.y_train), dtype=bool)
    for c in np.unique(data.y_train):
        idx = np.flatnonzero(data.y_train == c)
        val[rng.permutation(idx)[: max(1, round(fraction * len(idx)))]] = True
    return Dataset(
        f"{data.name}-validation",
        data.x_train[~val],
        data.y_train[~val],
        data.x_train[val],
        data.y_train[val],
    )


def choose_lr(table: Sequence[Mapping[str, Any]]) -> float:
    """The rate with the lowest mean (over seeds) of each run's best validation loss:
    early stopping's reading, so a rate that fits fast and then overfits is judged at its
    best. Diverged runs count as infinitely bad."""
    by_lr: dict[float, list[float]] = {}
    for row in table:
        by_lr.setdefault(float(row["lr"]), []).append(float(row["best_val_loss"]))
    means = {lr: float(np.mean(v)) if np.all(np.isfinite(v)) else np.inf for lr, v in by_lr.items()}
    best = min(means, key=lambda lr: (means[lr], lr))
    if not np.isfinite(means[best]):
        raise ValueError("weights tuning: every learning rate diverged")
    return best


def tune_job(
    base_run: Mapping[str, Any],
    lrs: Sequence[float],
    seeds: Sequence[int],
    val_fraction: float,
    split_seed: int,
    data_path: str | os.PathLike,
    device: str,
    threads: int,
    json_out: str | os.PathLike,
    md_out: str | os.PathLike,
) -> float:
    """Train ``base_run`` (an Adam arm at the tuning width) at every rate and seed on the
    training part of a validation split; write the chosen rate and the table."""
    import json

    from papergrid import runtime
    from papergrid.io import write_text
    from papergrid.weights.data import load_dataset
    from papergrid.weights.train import WeightsRun, train_weights

    data = validation_split(load_dataset(data_path), val_fraction, split_seed)
    dev = runtime.resolve_device(device)
    table = []
    for lr in lrs:
        for seed in seeds:
            cfg = WeightsRun(**{**base_run, "lr": float(lr), "seed": int(seed)})
            runtime.configure(threads, cfg.seed)
            result = train_weights(cfg, data, dev)
            val = [r["test_loss"] for r in result.curve[1:]]
            best = float(np.nanmin(val)) if result.status == "ok" else float("inf")
            epoch = int(np.nanargmin(val)) + 1 if result.status == "ok" else -1
            table.append(
                {
                    "lr": float(lr),
                    "seed": int(seed),
                    "status": result.status,
                    "best_val_loss": best,
                    "best_epoch": epoch,
                }
            )
            log.info(
                "tune lr %g seed %d: best validation loss %.4f at epoch %d", lr, seed, best, epoch
            )
    chosen = choose_lr(table)
    with atomic_path(json_out) as tmp, open(tmp, "w") as fh:
        json.dump({"lr": chosen, "runs": table}, fh, indent=1)
    lines = [
        f"Adam's base learning rate, chosen on a validation split ({val_fraction:.0%} of the "
        f"training set, stratified) at width {base_run['width']}: the lowest mean over seeds "
        "of each run's best validation loss. Chosen: "
        f"**{chosen:g}**.\n",
        "| lr | seed | status | best validation loss | at epoch |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['lr']:g} | {r['seed']} | {r['status']} | {r['best_val_loss']:.4f} | "
        f"{r['best_epoch']} |"
        for r in table
    ]
    write_text("\n".join(lines) + "\n", md_out)
    return chosen
