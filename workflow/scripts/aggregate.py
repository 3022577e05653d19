"""Collect an experiment's runs into runs.parquet (summaries) and curves.parquet.

Inputs: summaries, curves (per-run Parquet). Params: schema (the module declaring CONTRACT).
"""

from papergrid.aggregate import aggregate, load_contract
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
aggregate(
    load_contract(snakemake.params.schema),
    snakemake.input.summaries,
    snakemake.input.curves,
    snakemake.output.runs,
    snakemake.output.curves,
)
