"""Calibrate one experiment's claim rules by simulating reruns of the shipped grid.

Inputs: the experiment's tables and its claims. Outputs: calibration summary (Parquet,
Markdown) and every scenario's verdict rates, with the power planner's ladder. Params:
analysis, settings, level, calibration (n_sims, seed, plan_sims, plan_max_replicas).
"""

from papergrid.calibration import calibration_job
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
inputs = dict(snakemake.input.items())
calibration_job(
    snakemake.params.analysis,
    inputs,
    snakemake.params.settings,
    snakemake.params.level,
    inputs["claims"],
    snakemake.params.calibration["n_sims"],
    snakemake.params.calibration["seed"],
    snakemake.threads,
    snakemake.output.parquet,
    snakemake.output.rates,
    snakemake.output.md,
    snakemake.params.calibration["plan_sims"],
    snakemake.params.calibration["plan_max_replicas"],
)
