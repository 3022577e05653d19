"""Seed x template variance decomposition per skill; soups beside their parents.

Inputs: runs, soups (per template). Outputs: variance (Parquet, md), soups (Parquet).
"""

from papergrid.logs import setup_logging
from papergrid.sft.analysis import variance_job

setup_logging(snakemake.log[0])
variance_job(
    snakemake.input.runs,
    list(snakemake.input.soups),
    snakemake.params.n_boot,
    snakemake.params.level,
    snakemake.output.variance,
    snakemake.output.soups,
    snakemake.output.md,
)
