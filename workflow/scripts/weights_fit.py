"""Fit deviation at the matched loss ~ width^k per arm and layer.

Input: readings. Outputs: fits (Parquet, Markdown). Params: n_boot, level.
"""

from papergrid.logs import setup_logging
from papergrid.weights.analysis import fit_job

setup_logging(snakemake.log[0])
fit_job(
    snakemake.input.readings,
    snakemake.params.n_boot,
    snakemake.params.level,
    snakemake.threads,
    snakemake.output.parquet,
    snakemake.output.md,
)
