"""Train the weaker starts of the RLVR comparison (SFT with fewer steps) and evaluate them.

Inputs: base, vocab (the SFT base model). Outputs per seed: the SFT run's curve, summary,
model and vocab, and the start run's curve and summary. Params: sft_runs, starts,
sft_data, device, code.
"""

from papergrid.logs import setup_logging
from papergrid.post.jobs import weak_job

setup_logging(snakemake.log[0])
weak_job(
    snakemake.params.sft_runs,
    snakemake.params.starts,
    snakemake.input.base,
    snakemake.input.vocab,
    snakemake.params.sft_data,
    snakemake.params.device,
    snakemake.threads,
    snakemake.params.code,
    {k: list(snakemake.output[k]) for k in ("curve", "summary", "model", "vocab")},
    {k: list(snakemake.output[f"start_{k}"]) for k in ("curve", "summary")},
)
