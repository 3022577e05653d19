"""Fit loss versus depth per budget. Input: runs. Outputs: fits (Parquet, Markdown)."""

from papergrid.depth.analysis import fit_job
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
fit_job(
    snakemake.input.runs,
    snakemake.params.n_boot,
    snakemake.params.level,
    snakemake.threads,
    snakemake.output.parquet,
    snakemake.output.md,
)
