"""Train one (width, optimizer, seed) point.

Input: data (npz). Outputs: curve, summary (Parquet), matrices (npz).
Params: run (resolved run config), device, code (hash of the training modules).
"""

from papergrid.logs import setup_logging
from papergrid.weights.jobs import train_job

setup_logging(snakemake.log[0])
train_job(
    run=snakemake.params.run,
    data_path=snakemake.input.data,
    device=snakemake.params.device,
    threads=snakemake.threads,
    code_hash=snakemake.params.code,
    curve_path=snakemake.output.curve,
    summary_path=snakemake.output.summary,
    matrices_path=snakemake.output.matrices,
)
