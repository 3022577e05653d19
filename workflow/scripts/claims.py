"""Compute one experiment's claims and their verdicts.

Inputs: the experiment's tables (named as its analysis module's ``claim_data`` expects).
Outputs: claims (Parquet, Markdown). Params: analysis (module), settings, level.
"""

from papergrid.claims import claims_job
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
claims_job(
    snakemake.params.analysis,
    dict(snakemake.input.items()),
    snakemake.params.settings,
    snakemake.params.level,
    snakemake.output.parquet,
    snakemake.output.md,
)
