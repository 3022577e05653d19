"""Fine-tune every seed of one SFT job from the base model; soup pairs (main jobs).

Inputs: base, vocab. Outputs per seed: curve, summary, model, vocab; soups (main jobs).
"""

from papergrid.logs import setup_logging
from papergrid.sft.jobs import train_job

setup_logging(snakemake.log[0])
outputs = {k: list(snakemake.output[k]) for k in ("curve", "summary", "model", "vocab")}
if "soups" in snakemake.output.keys():
    outputs["soups"] = snakemake.output.soups
train_job(
    snakemake.params.runs,
    snakemake.params.soups,
    snakemake.input.base,
    snakemake.input.vocab,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    outputs,
)
