"""Compute the depth claims' verdicts. Inputs: runs, fits. Outputs: claims (Parquet, md)."""

from papergrid.depth.analysis import claims_job
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
claims_job(
    snakemake.input.runs,
    snakemake.input.fits,
    dict(snakemake.params.settings),
    snakemake.output.parquet,
    snakemake.output.md,
)
