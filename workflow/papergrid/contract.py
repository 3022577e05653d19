"""The Parquet contract every experiment follows.

Each training job writes two files for its run: ``curve.parquet`` (one row per
logged step or epoch) and ``summary.parquet`` (one row). Every row carries the
provenance columns in :data:`BASE_FIELDS` plus the experiment's grid coordinates;
an experiment declares its grid and metric columns once, as a :class:`RunContract`.
The aggregate rule reads every run back through :func:`read_checked`, so a missing
or mistyped column is an error that names the file and the column.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

STATUSES = ("ok", "diverged", "failed", "not_learned")
"""ok: trained and evaluated; diverged: the training loss became NaN or infinite
and the run stopped early; failed: training finished but its evaluation metrics
are not finite; not_learned: trained and evaluated, but the experiment's learned rule
(:mod:`papergrid.learned`) says it never left chance. Only ``ok`` runs enter fits;
the claims core counts the others in each claim's row."""

BASE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("experiment", pa.string(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("n_params", pa.int64(), nullable=False),  # the experiment's documented N
    pa.field("status", pa.string(), nullable=False),
    pa.field("wall_seconds", pa.float64(), nullable=False),
    pa.field("device", pa.string(), nullable=False),
    pa.field("torch_version", pa.string(), nullable=False),
    pa.field("config_hash", pa.string(), nullable=False),  # of the resolved run config
    pa.field("code_hash", pa.string(), nullable=False),  # of the modules the run imported
)

LM_FIELDS: tuple[pa.Field, ...] = (
    pa.field("tokens", pa.int64()),  # training tokens seen so far
    pa.field("flops", pa.float64()),  # training FLOPs so far (model.flops_per_token * tokens)
)
"""Columns every language-model experiment adds to its curve and summary."""


class ContractError(ValueError):
    """A Parquet file or a row does not follow its declared schema."""


@dataclass(frozen=True)
class RunContract:
    """One experiment's columns: grid coordinates, per-step metrics, summary metrics."""

    experiment: str
    grid: tuple[pa.Field, ...]
    curve: tuple[pa.Field, ...]
    summary: tuple[pa.Field, ...]

    def curve_schema(self) -> pa.Schema:
        return pa.schema(BASE_FIELDS + self.grid + self.curve)

    def summary_schema(self) -> pa.Schema:
        return pa.schema(BASE_FIELDS + self.grid + self.summary)

    @property
    def grid_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.grid)


def rows_to_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema, where: str) -> pa.Table:
    """Build a table from row dicts, refusing missing or unknown keys and bad statuses."""
    names = set(schema.names)
    for i, row in enumerate(rows):
        missing = [n for n in schema.names if n not in row]
        if missing:
            raise ContractError(f"{where}: row {i} lacks column(s) {missing}")
        extra = sorted(set(row) - names)
        if extra:
            raise ContractError(f"{where}: row {i} has undeclared column(s) {extra}")
        if row["status"] not in STATUSES:
            raise ContractError(
                f"{where}: row {i} has status {row['status']!r}; allowed: {list(STATUSES)}"
            )
    columns = {}
    for field in schema:
        values = [_clean(r[field.name]) for r in rows]
        try:
            columns[field.name] = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
            raise ContractError(
                f"{where}: column {field.name!r} does not convert to {field.type}: {err}"
            ) from err
    return pa.table(columns, schema=schema)


def _clean(value: Any) -> Any:
    # numpy scalars convert fine, but Python floats that are NaN must stay floats
    if hasattr(value, "item"):
        return value.item()
    return value


def check_table(table: pa.Table, schema: pa.Schema, path: str | os.PathLike) -> pa.Table:
    """Return ``table`` cast to ``schema``; raise naming ``path`` and the bad column."""
    for field in schema:
        if field.name not in table.column_names:
            raise ContractError(f"{path}: missing column {field.name!r} (expected {field.type})")
        actual = table.schema.field(field.name).type
        if actual != field.type and not (pa.types.is_null(actual) and field.nullable):
            raise ContractError(
                f"{path}: column {field.name!r} has type {actual}, expected {field.type}"
            )
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise ContractError(f"{path}: undeclared column(s) {extra}")
    statuses = set(table.column("status").to_pylist()) if "status" in schema.names else set()
    bad = statuses - set(STATUSES)
    if bad:
        raise ContractError(f"{path}: column 'status' has {sorted(bad)}; allowed {list(STATUSES)}")
    return table.select(schema.names).cast(schema)


def read_checked(path: str | os.PathLike, schema: pa.Schema) -> pa.Table:
    if not os.path.exists(path):
        raise ContractError(f"{path}: file does not exist")
    return check_table(pq.read_table(path), schema, path)


def read_frame(path: str | os.PathLike, schema: pa.Schema):
    """An aggregate table as a DataFrame, checked first: a dropped or retyped column
    fails here naming the file and the column, not as a KeyError deep in a fit."""
    return read_checked(path, schema).to_pandas()


def collect(paths: Iterable[str | os.PathLike], schema: pa.Schema) -> pa.Table:
    """Concatenate per-run files after checking each against ``schema``."""
    tables = [read_checked(p, schema) for p in paths]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


def is_finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def write_run(
    contract: RunContract,
    meta: Mapping[str, Any],
    curve: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    curve_path: str | os.PathLike,
    summary_path: str | os.PathLike,
) -> None:
    """Write one run's curve and summary; ``meta`` holds the base and grid columns."""
    from papergrid.io import write_parquet

    curve_table = rows_to_table(
        [{**meta, **r} for r in curve], contract.curve_schema(), str(curve_path)
    )
    summary_table = rows_to_table(
        [{**meta, **summary}], contract.summary_schema(), str(summary_path)
    )
    write_parquet(curve_table, curve_path)
    write_parquet(summary_table, summary_path)
