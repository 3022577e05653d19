"""Read every run at the first epoch it reaches the matched training loss, and at its end.

Inputs: runs, curves. Outputs: parquet (one row per run), md. Params: match_loss, level.
"""

from papergrid.logs import setup_logging
from papergrid.weights.analysis import readings_job

setup_logging(snakemake.log[0])
readings_job(
    snakemake.input.runs,
    snakemake.input.curves,
    snakemake.params.match_loss,
    snakemake.params.level,
    snakemake.output.parquet,
    snakemake.output.md,
)
