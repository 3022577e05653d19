"""Train every start seed of one post-training job (preference tuning or RL).

Inputs: pairs (per seed), start (the checkpoint per seed), vocab. Outputs per seed: curve,
summary. Params: runs (resolved configs, one per seed), kind (dpo | rl), sft_data, device,
code.
"""

from papergrid.logs import setup_logging
from papergrid.post.jobs import train_job

setup_logging(snakemake.log[0])
train_job(
    snakemake.params.runs,
    snakemake.params.kind,
    {"start": list(snakemake.input.start), "pairs": list(snakemake.input.pairs)},
    snakemake.input.vocab,
    snakemake.params.sft_data,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: list(snakemake.output[k]) for k in ("curve", "summary")},
)
