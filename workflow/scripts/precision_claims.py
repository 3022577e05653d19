"""Compute the precision claims' verdicts. Inputs: runs, fits. Outputs: claims (Parquet, md)."""

from papergrid.logs import setup_logging
from papergrid.precision.analysis import claims_job

setup_logging(snakemake.log[0])
claims_job(
    snakemake.input.runs,
    snakemake.input.fits,
    dict(snakemake.params.settings),
    snakemake.output.parquet,
    snakemake.output.md,
)
