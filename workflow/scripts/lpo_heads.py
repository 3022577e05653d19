"""Train and evaluate every temperature head of one seed, and the per-task selector.

Inputs: model, vocab, pairs, fixed (the fixed temperatures' test prompts). Outputs:
summary, curve, prompts. Params: runs, baselines, block, device, code.
"""

from papergrid.logs import setup_logging
from papergrid.lpo.jobs import heads_job

setup_logging(snakemake.log[0])
heads_job(
    snakemake.params.runs,
    snakemake.params.baselines,
    snakemake.params.block,
    snakemake.input.model,
    snakemake.input.vocab,
    snakemake.input.pairs,
    snakemake.input.fixed,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: snakemake.output[k] for k in ("summary", "curve", "prompts")},
)
