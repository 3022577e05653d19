"""Train every size of one capacity seed on the facts, then read bits stored after PTQ.

Output: unit (a directory). Params: runs, files (per run: curve, summary, model, vocab),
device, code.
"""

from papergrid.logs import setup_logging
from papergrid.precision.capacity_jobs import train_capacity

setup_logging(snakemake.log[0])
train_capacity(
    snakemake.params.runs,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    snakemake.params.files,
)
