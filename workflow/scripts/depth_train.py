"""Train every seed of one (budget, depth) cell: Markov LM loss, then SCAN.

Output: cell (a directory). Params: runs, files (per seed, inside cell: curve, summary,
model, vocab), device, code.
"""

from papergrid.depth.jobs import train_cell
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
train_cell(
    snakemake.params.runs,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    snakemake.params.files,
)
