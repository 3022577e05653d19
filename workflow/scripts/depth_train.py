"""Train every depth of one (budget, seed): pretraining, then SCAN fine-tuning.

Output: unit (a directory). Params: runs (one per depth), files (per depth, inside unit:
curve, summary, model, vocab), device, code.
"""

from papergrid.depth.jobs import train_seed
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
train_seed(
    snakemake.params.runs,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    snakemake.params.files,
)
