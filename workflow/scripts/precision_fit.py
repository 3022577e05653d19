"""Fit the unquantised law (E fixed), each setting group's gamma and the PTQ law.

Input: runs. Outputs: fits (Parquet, Markdown)."""

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
)
