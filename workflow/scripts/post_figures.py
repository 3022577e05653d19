"""Draw the post-training figures. Inputs: runs, curves. Outputs: losses, rlvr, cost."""

from papergrid.logs import setup_logging
from papergrid.post.plots import figures_job

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.runs,
    snakemake.input.curves,
    snakemake.params.skill,
    {k: snakemake.output[k] for k in ("losses", "rlvr", "cost")},
)
