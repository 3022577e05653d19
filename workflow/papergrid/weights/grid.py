"""The weights experiment's grid: from the config block to per-job run configs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cell_runs(block: Mapping[str, Any], width: int | str, optimizer: str) -> list[dict[str, Any]]:
    """Resolved configs of every seed of one (width, arm) cell, in seed order.

    Only keys that change a run's numbers are included: they become the job's params,
    so editing one arm's settings reruns exactly that arm's cells. A ``tuned`` rate stays
    the word here; the job reads the rate from the tuning result, its input.
    """
    arm = block["optimizers"][optimizer]
    return [
        {
            "width": int(width),
            "optimizer": optimizer,
            "kind": arm["type"],
            "seed": seed,
            "lr": arm["lr"],
            "momentum": arm["momentum"],
            "lr_width": arm["lr_width"],
            # the width at which the base rate is set, so the inverse rule is that rate there
            "lr_base_width": block["tune"]["width"] if arm["lr_width"] == "inverse" else 0,
            "decay_dose": arm["decay_dose"],
            "epochs": block["train"]["epochs"],
            "batch_size": block["train"]["batch_size"],
            "stamp_mode": block["stamp"]["mode"],
            "stamp_letter": block["stamp"]["letter"],
            "stamp_amplitude": block["stamp"]["amplitude"],
        }
        for seed in block["grid"]["seed"]
    ]


def tuned(block: Mapping[str, Any], optimizer: str) -> bool:
    """Whether the arm's rate comes from the tuning job."""
    return block["optimizers"][optimizer]["lr"] == "tuned"


def tune_run(block: Mapping[str, Any]) -> dict[str, Any]:
    """The run the tuning job trains at each rate and seed: plain Adam at the tuning
    width, no decay, the grid's epochs, batch and stamp (the rate and seed are filled in)."""
    return {
        "width": int(block["tune"]["width"]),
        "optimizer": "tune",
        "kind": "adam",
        "seed": 0,
        "lr": 0.0,
        "momentum": 0.0,
        "lr_width": "constant",
        "lr_base_width": 0,
        "decay_dose": 0.0,
        "epochs": block["train"]["epochs"],
        "batch_size": block["train"]["batch_size"],
        "stamp_mode": block["stamp"]["mode"],
        "stamp_letter": block["stamp"]["letter"],
        "stamp_amplitude": block["stamp"]["amplitude"],
    }


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
