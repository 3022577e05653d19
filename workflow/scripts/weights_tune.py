"""Choose Adam's base learning rate on a validation split at one width.

Input: data. Outputs: json (the chosen rate and every run), md. Params: run (the tuning
run's config), lrs, seeds, val_fraction, split_seed, device, code.
"""

from papergrid.logs import setup_logging
from papergrid.weights.jobs import tune_job

setup_logging(snakemake.log[0])
tune_job(
    base_run=snakemake.params.run,
    lrs=snakemake.params.lrs,
    seeds=snakemake.params.seeds,
    val_fraction=snakemake.params.val_fraction,
    split_seed=snakemake.params.split_seed,
    data_path=snakemake.input.data,
    device=snakemake.params.device,
    threads=snakemake.threads,
    json_out=snakemake.output.json,
    md_out=snakemake.output.md,
)
