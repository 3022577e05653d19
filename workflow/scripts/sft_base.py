"""Pretrain the base model on plain task text. Outputs: model, vocab."""

from papergrid.logs import setup_logging
from papergrid.sft.jobs import train_base

setup_logging(snakemake.log[0])
train_base(
    snakemake.params.data,
    snakemake.params.model,
    snakemake.params.train,
    snakemake.params.device,
    snakemake.threads,
    snakemake.output.model,
    snakemake.output.vocab,
)
