"""Fit the training and PTQ laws. Input: runs. Outputs: fits (Parquet, Markdown)."""

from papergrid.logs import setup_logging
from papergrid.precision.analysis import fit_job

setup_logging(snakemake.log[0])
fit_job(
    snakemake.input.runs,
    snakemake.params.n_boot,
    snakemake.params.level,
    snakemake.threads,
    snakemake.output.parquet,
    snakemake.output.md,
    snakemake.params.markov,
)
