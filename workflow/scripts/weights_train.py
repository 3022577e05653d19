"""Train every seed of one (width, optimizer) cell.

Input: data (npz). Outputs per seed: curves, summaries (Parquet), matrices (npz).
Params: runs (resolved run configs, in seed order), device, code (hash of the training modules).
"""

from papergrid.logs import setup_logging
from papergrid.weights.jobs import train_job

setup_logging(snakemake.log[0])
train_job(
    runs=snakemake.params.runs,
    data_path=snakemake.input.data,
    device=snakemake.params.device,
    threads=snakemake.threads,
    code_hash=snakemake.params.code,
    curve_paths=snakemake.output.curves,
    summary_paths=snakemake.output.summaries,
    matrices_paths=snakemake.output.matrices,
)
