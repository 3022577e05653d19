"""Collect every run into runs.parquet (summaries) and curves.parquet, checking the schema."""

from papergrid.logs import setup_logging
from papergrid.weights.jobs import aggregate_job

setup_logging(snakemake.log[0])
aggregate_job(snakemake.input.summaries, snakemake.input.curves, snakemake.output.runs,
              snakemake.output.curves)
