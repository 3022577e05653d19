"""Collect the adaptive-decoding runs (runs, curves) and their test prompts (prompts).

Inputs: summaries, curves, prompts (per job). Outputs: runs, curves, prompts.
Params: learned (mark runs that did not learn: papergrid.lpo.learned).
"""

from papergrid.logs import setup_logging
from papergrid.lpo.analysis import aggregate_job

setup_logging(snakemake.log[0])
aggregate_job(
    snakemake.input.summaries,
    snakemake.input.curves,
    snakemake.input.prompts,
    {k: snakemake.output[k] for k in ("runs", "curves", "prompts")},
    snakemake.params.learned,
)
