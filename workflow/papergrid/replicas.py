"""Replicas of a simulated grid: k times its seeds, for the power planner's ladder
(:mod:`papergrid.planner`, :mod:`papergrid.calibration`).

A replica is one more draw of the claim's simulator with every ``seed`` column shifted,
so the statistic sees k independent copies of the grid's seeds (k times the seeds per
cell where cells are the units). Tables a simulator returns unchanged are copied as they
are: right for the fixed arm of a paired contrast, whose differences get fresh noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

LADDER = (2, 4, 8, 16, 32)  # replicas of the grid's seeds searched beyond the grid itself
SEED_STRIDE = 1_000_003  # added to a replica's seeds: no replica shares a seed id


def has_seeds(data: Any) -> bool:
    """Whether any table in ``data`` has a ``seed`` column to replicate."""
    return any("seed" in t.columns for t in _tables(data))


def _tables(data: Any) -> list[pd.DataFrame]:
    if isinstance(data, pd.DataFrame):
        return [data]
    if isinstance(data, Mapping):
        return [t for v in data.values() for t in _tables(v)]
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return [t for f in dataclasses.fields(data) for t in _tables(getattr(data, f.name))]
    return []


def relabel(data: Any, offset: int) -> Any:
    """``data`` with ``offset`` added to every ``seed`` column."""
    if isinstance(data, pd.DataFrame):
        if "seed" not in data.columns or offset == 0:
            return data
        out = data.copy()
        out["seed"] = out["seed"].to_numpy() + offset
        return out
    if isinstance(data, Mapping):
        return {k: relabel(v, offset) for k, v in data.items()}
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        changes = {f.name: relabel(getattr(data, f.name), offset) for f in dataclasses.fields(data)}
        return dataclasses.replace(data, **changes)
    return data


def stack(parts: Sequence[Any]) -> Any:
    """Replicas of one shape joined table by table."""
    first = parts[0]
    if isinstance(first, pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    if isinstance(first, Mapping):
        return {k: stack([p[k] for p in parts]) for k in first}
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        changes = {}
        for f in dataclasses.fields(first):
            values = [getattr(p, f.name) for p in parts]
            if isinstance(values[0], pd.DataFrame | Mapping) or (
                dataclasses.is_dataclass(values[0]) and not isinstance(values[0], type)
            ):
                changes[f.name] = stack(values)
        return dataclasses.replace(first, **changes)
    return first


def replicated(
    simulate: Callable[[float, np.random.Generator], Any], k: int
) -> Callable[[float, np.random.Generator], Any]:
    """A simulator of k independent replicas of the grid (k times its seeds)."""
    if k == 1:
        return simulate

    def draw(effect: float, rng: np.random.Generator) -> Any:
        return stack([relabel(simulate(effect, rng), i * SEED_STRIDE) for i in range(k)])

    return draw
