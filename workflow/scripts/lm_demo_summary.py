"""Write the demo's summary table. Input: runs (Parquet). Output: md."""

from papergrid.lm.demo import summary_job
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
summary_job(snakemake.input.runs, snakemake.output.md)
