"""Draw the adaptive-decoding figures. Inputs: runs, prompts. Outputs: temperatures,
rewards, positions. Params: temperatures."""

from papergrid.logs import setup_logging
from papergrid.lpo.plots import figures_job

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.runs,
    snakemake.input.prompts,
    snakemake.params.temperatures,
    {k: snakemake.output[k] for k in ("temperatures", "rewards", "positions")},
)
