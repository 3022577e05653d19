"""One seed's preference data and features, and every fixed temperature's test run.

Inputs: model, vocab (the frozen model). Outputs: pairs, summary, curve, prompts.
Params: block, device, code.
"""

from papergrid.logs import setup_logging
from papergrid.lpo.jobs import data_job

setup_logging(snakemake.log[0])
data_job(
    snakemake.params.block,
    int(snakemake.wildcards.seed),
    snakemake.input.model,
    snakemake.input.vocab,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: snakemake.output[k] for k in ("pairs", "summary", "curve", "prompts")},
)
