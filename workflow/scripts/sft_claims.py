"""Compute the SFT claims' verdicts. Inputs: runs, variance, soups. Outputs: claims."""

from papergrid.logs import setup_logging
from papergrid.sft.analysis import claims_job

setup_logging(snakemake.log[0])
claims_job(
    snakemake.input.runs,
    snakemake.input.variance,
    snakemake.input.soups,
    dict(snakemake.params.settings),
    snakemake.output.parquet,
    snakemake.output.md,
)
