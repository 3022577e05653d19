"""Draw the depth figures from the runs and fit tables."""

from papergrid.depth.plots import figures_job
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.runs,
    snakemake.input.fits,
    {k: snakemake.output[k] for k in ("accuracy", "loss", "matched", "latency")},
)
