"""Collect the TokenFormer runs (with compute against the target loss) and their curves.

Inputs: summaries, curves (per job). Outputs: runs, curves. Params: target_steps,
same_steps, vocab (sets the uniform loss that a run which learned leaves behind).
"""

from papergrid.logs import setup_logging
from papergrid.tokenformer.analysis import aggregate_job

setup_logging(snakemake.log[0])
aggregate_job(
    snakemake.input.summaries,
    snakemake.input.curves,
    snakemake.params.target_steps,
    snakemake.params.same_steps,
    {k: snakemake.output[k] for k in ("runs", "curves")},
    snakemake.params.vocab,
)
