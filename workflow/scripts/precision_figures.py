"""Draw the precision figures from the runs, fit and capacity tables."""

from papergrid.logs import setup_logging
from papergrid.precision.plots import figures_job

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.runs,
    snakemake.input.fits,
    snakemake.input.capacity,
    {k: snakemake.output[k] for k in ("loss", "neff", "ptq", "residuals", "capacity")},
)
