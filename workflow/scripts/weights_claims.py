"""Compute the claims' verdicts. Inputs: runs, fits. Outputs: claims (Parquet, Markdown)."""

from papergrid.logs import setup_logging
from papergrid.weights.analysis import claims_job

setup_logging(snakemake.log[0])
claims_job(
    snakemake.input.runs,
    snakemake.input.fits,
    snakemake.params.auc_threshold,
    snakemake.params.level,
    snakemake.output.parquet,
    snakemake.output.md,
)
