"""Collect one experiment's per-run Parquet files into its runs and curves tables.

Every experiment uses this one job: it checks each file against the experiment's
:class:`~papergrid.contract.RunContract`, so a missing or mistyped column fails
here, naming the file and the column, before any fit reads it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

import pyarrow as pa

from papergrid.contract import RunContract, collect
from papergrid.gates import LearnedRule, mark_not_learned
from papergrid.io import write_parquet

log = logging.getLogger(__name__)


def load_contract(module: str) -> RunContract:
    """The ``CONTRACT`` an experiment's schema module declares."""
    contract = getattr(importlib.import_module(module), "CONTRACT", None)
    if not isinstance(contract, RunContract):
        raise TypeError(f"{module} does not define CONTRACT as a RunContract")
    return contract


def load_learned(module: str | None) -> LearnedRule | None:
    """The ``LEARNED`` rule an experiment's learned module declares (None: no module)."""
    if not module:
        return None
    rule = getattr(importlib.import_module(module), "LEARNED", None)
    if not isinstance(rule, LearnedRule):
        raise TypeError(f"{module} does not define LEARNED as a LearnedRule")
    return rule


def with_learned(table: pa.Table, rule: LearnedRule | None) -> pa.Table:
    """``table`` with status ``not_learned`` where ``rule`` says an ok run never left
    chance; the count goes to the log, so that no run drops out of a statistic unseen."""
    if rule is None or table.num_rows == 0:
        return table
    runs = mark_not_learned(table.to_pandas(), rule)
    n = int((runs["status"] == "not_learned").sum())
    if n:
        ids = ", ".join(runs.loc[runs["status"] == "not_learned", "run_id"].astype(str)[:10])
        log.warning(
            "%d of %d runs did not learn (%s): status not_learned, e.g. %s",
            n,
            len(runs),
            rule.describe(),
            ids,
        )
    return pa.Table.from_pandas(runs, schema=table.schema, preserve_index=False)


def aggregate(
    contract: RunContract,
    summaries: Sequence[str],
    curves: Sequence[str],
    runs_out: str,
    curves_out: str,
    learned: LearnedRule | None = None,
) -> None:
    runs = with_learned(collect(summaries, contract.summary_schema()), learned)
    write_parquet(runs, runs_out)
    write_parquet(collect(curves, contract.curve_schema()), curves_out)
