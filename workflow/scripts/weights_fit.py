"""Fit deviation ~ width^k per optimizer and layer. Input: runs. Outputs: fits (Parquet, Markdown)."""

from papergrid.logs import setup_logging
from papergrid.weights.jobs import fit_job

setup_logging(snakemake.log[0])
fit_job(snakemake.input.runs, snakemake.params.n_boot, snakemake.params.level,
        snakemake.output.parquet, snakemake.output.md)
