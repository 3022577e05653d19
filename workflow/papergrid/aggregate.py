"""Collect one experiment's per-run Parquet files into its runs and curves tables.

Every experiment uses this one job: it checks each file against the experiment's
:class:`~papergrid.contract.RunContract`, so a missing or mistyped column fails
here, naming the file and the column, before any fit reads it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from papergrid.contract import RunContract, collect
from papergrid.io import write_parquet


def load_contract(module: str) -> RunContract:
    """The ``CONTRACT`` an experiment's schema module declares."""
    contract = getattr(importlib.import_module(module), "CONTRACT", None)
    if not isinstance(contract, RunContract):
        raise TypeError(f"{module} does not define CONTRACT as a RunContract")
    return contract


def aggregate(
    contract: RunContract,
    summaries: Sequence[str],
    curves: Sequence[str],
    runs_out: str,
    curves_out: str,
) -> None:
    write_parquet(collect(summaries, contract.summary_schema()), runs_out)
    write_parquet(collect(curves, contract.curve_schema()), curves_out)
