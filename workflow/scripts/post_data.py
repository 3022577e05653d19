"""Prompt pools, on-policy samples, every pair arm with its cached reference log-probs,
and the start's evaluation, for one start seed.

Inputs: model, vocab (the SFT checkpoint). Outputs: pairs (torch file), curve and summary
of the start run. Params: run (the start's resolved config), sft_data, device, code.
"""

from papergrid.logs import setup_logging
from papergrid.post.jobs import data_job

setup_logging(snakemake.log[0])
data_job(
    snakemake.params.run,
    snakemake.input.model,
    snakemake.input.vocab,
    snakemake.params.sft_data,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    snakemake.output.pairs,
    snakemake.output.curve,
    snakemake.output.summary,
)
