"""Train every seed of one (width, arm) cell.

Inputs: data (npz); tune (json) for an arm whose rate is tuned. Output: cell (a
directory). Params: runs (run configs, in seed order), files (per seed, inside cell:
curve, summary, matrices), device, code.
"""

from papergrid.logs import setup_logging
from papergrid.weights.jobs import train_job

setup_logging(snakemake.log[0])
train_job(
    runs=snakemake.params.runs,
    data_path=snakemake.input.data,
    tune_path=snakemake.input.get("tune") or None,
    device=snakemake.params.device,
    threads=snakemake.threads,
    code_hash=snakemake.params.code,
    curve_paths=snakemake.params.files["curve"],
    summary_paths=snakemake.params.files["summary"],
    matrices_paths=snakemake.params.files["matrices"],
)
