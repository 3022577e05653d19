"""Draw the stamp, scaling and curve figures from the tables and saved matrices."""

from papergrid.logs import setup_logging
from papergrid.weights.plots import figures_job

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.readings,
    snakemake.input.fits,
    snakemake.input.curves,
    dict(zip(snakemake.params.matrix_keys, snakemake.params.matrices, strict=True)),
    snakemake.params.auc_threshold,
    snakemake.output.stamps,
    snakemake.output.scaling,
    snakemake.output.curves,
)
