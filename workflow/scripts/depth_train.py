"""Train every seed of one (budget, depth) cell: Markov LM loss, then SCAN.

Outputs per seed: curve, summary (Parquet), model, vocab. Params: runs, device, code.
"""

from papergrid.depth.jobs import train_cell
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
train_cell(
    snakemake.params.runs,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: list(snakemake.output[k]) for k in ("curve", "summary", "model", "vocab")},
)
