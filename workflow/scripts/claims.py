"""Compute one experiment's claims, their raw verdicts and the validity gates that read
the data (papergrid.claims, papergrid.gates).

Inputs: the experiment's tables (named as its analysis module's ``claim_data`` expects).
Output: parquet, the raw claims (the verdicts rule adds the calibration's gate). Params:
analysis (module), settings, level.
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
)
