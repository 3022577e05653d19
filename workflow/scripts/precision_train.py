"""Train every precision of one (size, D/N) cell, then evaluate each after PTQ.

Outputs per precision: curve, summary (Parquet), model, vocab. Params: runs, device, code.
"""

from papergrid.logs import setup_logging
from papergrid.precision.jobs import train_cell

setup_logging(snakemake.log[0])
train_cell(
    snakemake.params.runs,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: list(snakemake.output[k]) for k in ("curve", "summary", "model", "vocab")},
)
