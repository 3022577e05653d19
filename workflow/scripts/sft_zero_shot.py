"""The base model's accuracy under every template before SFT (the control arm)."""

from papergrid.logs import setup_logging
from papergrid.sft.jobs import zero_shot

setup_logging(snakemake.log[0])
zero_shot(
    snakemake.params.data,
    snakemake.params.templates,
    snakemake.input.base,
    snakemake.input.vocab,
    snakemake.params.device,
    snakemake.threads,
    snakemake.output[0],
)
