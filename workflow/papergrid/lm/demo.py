"""The language-model core's example experiment: one tiny model per data source.

It exercises the whole LM path (data, model, trainer, resume, Parquet contract) inside
the workflow and reports each model's loss beside what is known about its source: the
exact entropy floor of the Markov language, exact match on SCAN, verifier accuracy on
the task suite. It makes no claim.
"""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract, read_frame
from papergrid.io import write_text

_METRICS = (
    pa.field("train_loss", pa.float64()),  # mean since the previous evaluation
    pa.field("val_loss", pa.float64()),  # held-out loss per counted token (nats)
    pa.field("accuracy", pa.float64()),  # exact match (scan) or verifier accuracy (tasks)
)

CONTRACT = RunContract(
    experiment="lm_demo",
    grid=(pa.field("source", pa.string()),),
    curve=(pa.field("step", pa.int64()), *LM_FIELDS, pa.field("lr", pa.float64()), *_METRICS),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        *_METRICS,
        pa.field("entropy_floor", pa.float64()),  # markov only: exact entropy rate (nats)
    ),
)


def summary_markdown(runs: pd.DataFrame) -> str:
    lines = [
        "| source | status | N (non-embedding) | steps | tokens | val loss (nats) | "
        "entropy floor | gap | accuracy | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in runs.sort_values("source").iterrows():
        floor = r["entropy_floor"]
        gap = r["val_loss"] - floor if math.isfinite(floor) else math.nan

        def f(x, spec=".3f"):
            return "n/a" if not math.isfinite(x) else format(x, spec)

        lines.append(
            f"| {r['source']} | {r['status']} | {r['n_params']:,} | {r['steps_run']} | "
            f"{r['tokens']:,} | {f(r['val_loss'])} | {f(floor)} | {f(gap)} | "
            f"{f(r['accuracy'])} | {r['wall_seconds']:.0f} |"
        )
    note = (
        "\nOne tiny model per data source (no claim). The Markov language's floor is its "
        "exact entropy rate; accuracy is greedy exact match on held-out SCAN commands, or "
        "the verifiers' mean accuracy over the task suite's skills.\n"
    )
    return "\n".join(lines) + "\n" + note


def summary_job(runs_path: str, md_out: str) -> None:
    write_text(summary_markdown(read_frame(runs_path, CONTRACT.summary_schema())), md_out)
