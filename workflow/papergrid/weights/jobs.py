"""What each Snakemake job of the weights experiment does, callable without Snakemake."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid import claims as claims_mod
from papergrid.contract import collect, write_run
from papergrid.io import atomic_path, save_figure, write_parquet, write_text
from papergrid.provenance import config_hash
from papergrid.weights import analysis
from papergrid.weights.data import load_digits_split, load_idx_split, save_dataset
from papergrid.weights.schema import CONTRACT

log = logging.getLogger(__name__)


def prepare_data(data: Mapping[str, Any], out: str | os.PathLike) -> None:
    if data["source"] == "digits":
        ds = load_digits_split(data["test_fraction"], data["split_seed"])
    else:
        idx = data["idx"]
        ds = load_idx_split(idx["train_images"], idx["train_labels"], idx["test_images"],
                            idx["test_labels"], data["train_subset"], data["split_seed"])
    log.info("%s: %d train, %d test, %d features, %d classes", ds.name, len(ds.y_train),
             len(ds.y_test), ds.n_features, ds.n_classes)
    save_dataset(ds, out)


def run_id(width: int, optimizer: str, seed: int) -> str:
    return f"weights/w{width}-{optimizer}-s{seed}"


def train_job(
    run: Mapping[str, Any],
    data_path: str | os.PathLike,
    device: str,
    threads: int,
    code_hash: str,
    curve_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    matrices_path: str | os.PathLike,
) -> str:
    """Train one grid point and write its curve, summary and stamped matrices. Returns status."""
    from papergrid import runtime
    from papergrid.weights.data import load_dataset
    from papergrid.weights.train import WeightsRun, train_weights

    cfg = WeightsRun(**run)
    runtime.configure(threads, cfg.seed)
    dev = runtime.resolve_device(device)
    result = train_weights(cfg, load_dataset(data_path), dev)
    meta = {
        "run_id": run_id(cfg.width, cfg.optimizer, cfg.seed),
        "experiment": CONTRACT.experiment,
        "seed": cfg.seed,
        "n_params": result.n_params,
        "status": result.status,
        "wall_seconds": result.wall_seconds,
        "device": runtime.device_label(dev),
        "torch_version": runtime.torch_version(),
        "config_hash": config_hash(run),
        "code_hash": code_hash,
        "width": cfg.width,
        "optimizer": cfg.optimizer,
    }
    last = dict(result.curve[-1])
    summary = {"epochs_run": last.pop("epoch"), **{k: v for k, v in last.items() if k != "step"}}
    write_run(CONTRACT, meta, result.curve, summary, curve_path, summary_path)
    with atomic_path(matrices_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, w_init=result.w_init, w_final=result.w_final, mask=result.mask)
    log.info("status %s in %.1fs", result.status, result.wall_seconds)
    return result.status


def aggregate_job(summaries: Sequence[str], curves: Sequence[str], runs_out: str, curves_out: str) -> None:
    write_parquet(collect(summaries, CONTRACT.summary_schema()), runs_out)
    write_parquet(collect(curves, CONTRACT.curve_schema()), curves_out)


def fit_job(runs_path: str, n_boot: int, level: float, parquet_out: str, md_out: str) -> None:
    runs = pd.read_parquet(runs_path)
    table = analysis.fit_table(runs, n_boot=n_boot, level=level)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table), md_out)


def fit_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "No fit: fewer than two widths with ok runs.\n"
    cols = ["optimizer", "layer", "param", "value", "ci_low", "ci_high", "se", "n_points",
            "n_boot", "status", "heldout_are"]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join(
        "| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |\n"
        for _, r in table[cols].iterrows()
    )
    return ("Power law ||W-W0||/||W0|| = A * width^k per optimizer and layer; 95% bootstrap "
            "intervals (seeds resampled within width); heldout_are: mean relative error "
            "predicting the widest width from the others.\n\n" + head + body)


def claims_job(runs_path: str, fits_path: str, auc_threshold: float, level: float,
               parquet_out: str, md_out: str) -> None:
    runs = pd.read_parquet(runs_path)
    fits = pd.read_parquet(fits_path)
    found = analysis.claims(runs, fits, auc_threshold=auc_threshold, level=level)
    write_parquet(claims_mod.claims_table(found), parquet_out)
    write_text(claims_mod.claims_markdown(found), md_out)


def figures_job(runs_path: str, fits_path: str, curves_path: str,
                matrices: Mapping[tuple[str, int], str], auc_threshold: float,
                stamps_out: str, scaling_out: str, curves_out: str) -> None:
    from papergrid.weights import plots

    loaded = {}
    for key, path in matrices.items():
        with np.load(path) as z:
            loaded[key] = {"w_init": z["w_init"], "w_final": z["w_final"]}
    save_figure(plots.stamp_figure(loaded), stamps_out)
    runs, fits = pd.read_parquet(runs_path), pd.read_parquet(fits_path)
    save_figure(plots.scaling_figure(runs, fits, auc_threshold), scaling_out)
    save_figure(plots.curves_figure(pd.read_parquet(curves_path)), curves_out)
