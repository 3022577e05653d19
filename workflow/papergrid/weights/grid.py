"""The weights experiment's grid: from the config block to per-job run configs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cell_runs(block: Mapping[str, Any], width: int | str, optimizer: str) -> list[dict[str, Any]]:
    """Resolved configs of every seed of one (width, optimizer) cell, in seed order.

    Only keys that change a run's numbers are included: they become the job's params,
    so editing one optimizer's settings reruns exactly that optimizer's cells.
    """
    opt = block["optimizers"][optimizer]
    return [
        {
            "width": int(width),
            "optimizer": optimizer,
            "seed": seed,
            "lr": opt["lr"],
            "momentum": opt["momentum"],
            "weight_decay": opt["weight_decay"],
            "epochs": block["train"]["epochs"],
            "batch_size": block["train"]["batch_size"],
            "stamp_mode": block["stamp"]["mode"],
            "stamp_letter": block["stamp"]["letter"],
            "stamp_amplitude": block["stamp"]["amplitude"],
        }
        for seed in block["grid"]["seed"]
    ]


def shown_cells(block: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(optimizer, width) pairs drawn in the stamp figure: smallest and largest width."""
    widths = block["grid"]["width"]
    return [
        (opt, w) for opt in block["grid"]["optimizer"] for w in sorted({min(widths), max(widths)})
    ]


def idx_files(block: Mapping[str, Any]) -> list[str]:
    """User-supplied IDX files (inputs of the data rule), or none for the digits set."""
    data = block["data"]
    return list(data["idx"].values()) if data["source"] == "idx" else []
