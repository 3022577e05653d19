"""The post-training runs per method, arm and beta. Input: runs. Output: methods.md."""

from papergrid.logs import setup_logging
from papergrid.post.analysis import table_job

setup_logging(snakemake.log[0])
table_job(snakemake.input.runs, snakemake.output.md)
