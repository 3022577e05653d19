"""Collect an experiment's runs into runs.parquet (summaries) and curves.parquet.

Inputs: summaries, curves (per-run Parquet), or cells (directories of packed runs), whose
files then come as params summaries and curves. Params: schema (the module declaring CONTRACT).
"""

from papergrid.aggregate import aggregate, load_contract, load_learned
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
files = snakemake.input if "summaries" in snakemake.input.keys() else snakemake.params
aggregate(
    load_contract(snakemake.params.schema),
    files.summaries,
    files.curves,
    snakemake.output.runs,
    snakemake.output.curves,
    load_learned(snakemake.params.get("learned", None)),
)
