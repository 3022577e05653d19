"""Train the frozen model of the adaptive-decoding experiment and measure it.

Outputs: curve, summary, model, vocab. Params: block (tasks, base, data), seed, device,
code.
"""

from papergrid.logs import setup_logging
from papergrid.lpo.jobs import base_job

setup_logging(snakemake.log[0])
base_job(
    snakemake.params.block,
    snakemake.params.seed,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: snakemake.output[k] for k in ("curve", "summary", "model", "vocab")},
)
