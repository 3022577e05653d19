"""Collect the adaptive-decoding runs (runs, curves) and their test prompts (prompts).

Inputs: summaries, curves, prompts (per job). Outputs: runs, curves, prompts.
"""

from papergrid.logs import setup_logging
from papergrid.lpo.analysis import aggregate_job

setup_logging(snakemake.log[0])
aggregate_job(
    snakemake.input.summaries,
    snakemake.input.curves,
    snakemake.input.prompts,
    {k: snakemake.output[k] for k in ("runs", "curves", "prompts")},
)
