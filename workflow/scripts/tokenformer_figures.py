"""Loss against cumulative FLOPs for every arm, and the loss jump at growth.

Inputs: runs, curves. Outputs: loss_compute, jumps. Params: share.
"""

from papergrid.logs import setup_logging
from papergrid.tokenformer.plots import figures_job

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.runs,
    snakemake.input.curves,
    snakemake.params.share,
    {k: snakemake.output[k] for k in ("loss_compute", "jumps")},
)
