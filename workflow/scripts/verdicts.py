"""The claims as reported: the raw claims with the could-not-fail gate from the calibration
and the power planner's line for each open claim.

Inputs: raw (claims), calibration (summary), rates (every scenario, with the planner's
ladder). Outputs: parquet and md (the claims), plan (the figures the power target reads).
Params: level, seeds (the grid's seed count), grid (hash of the config block without its
seeds), benchmarks (the experiment's benchmark folder, which prices the planner's seeds).
"""

from papergrid.claims import verdicts_job
from papergrid.logs import setup_logging
from papergrid.planner import write_plan

setup_logging(snakemake.log[0])
p = snakemake.params
plans = write_plan(
    snakemake.input.rates, snakemake.input.raw, p.seeds, p.grid, p.benchmarks, snakemake.output.plan
)
verdicts_job(
    snakemake.input.raw,
    snakemake.input.calibration,
    p.level,
    plans,
    snakemake.output.parquet,
    snakemake.output.md,
)
