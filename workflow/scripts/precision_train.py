"""Train every precision of one (size, D/N) cell, then evaluate each after PTQ.

Output: cell (a directory). Params: runs, files (per precision, inside cell: curve,
summary, model, vocab), device, code.
"""

from papergrid.logs import setup_logging
from papergrid.precision.jobs import train_cell

setup_logging(snakemake.log[0])
train_cell(
    snakemake.params.runs,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    snakemake.params.files,
)
