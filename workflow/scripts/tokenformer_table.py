"""The compute each arm needs to reach the scratch loss, with seed intervals.

Inputs: runs. Outputs: compute, compute_md. Params: share, level.
"""

from papergrid.logs import setup_logging
from papergrid.tokenformer.analysis import table_job

setup_logging(snakemake.log[0])
table_job(
    snakemake.input.runs,
    snakemake.params.share,
    snakemake.params.level,
    {k: snakemake.output[k] for k in ("compute", "compute_md")},
)
