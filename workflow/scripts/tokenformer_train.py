"""Train every run of one (architecture, seed) TokenFormer job.

Inputs: lr (the architecture's chosen peak rates). Outputs: summary, curve. Params: runs,
block, device, code. Wildcards: layer, seed.
"""

from papergrid.logs import setup_logging
from papergrid.tokenformer.jobs import family_job
from papergrid.tokenformer.tuning import read_rates

setup_logging(snakemake.log[0])
family_job(
    snakemake.params.runs,
    snakemake.params.block,
    snakemake.wildcards.layer,
    int(snakemake.wildcards.seed),
    read_rates(snakemake.input.lr),
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: snakemake.output[k] for k in ("summary", "curve")},
)
