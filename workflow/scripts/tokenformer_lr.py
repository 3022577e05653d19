"""Choose one architecture's peak learning rates for the TokenFormer grid.

Outputs: lr (JSON: the chosen rate of growth and of scratch runs, and every swept loss).
Params: block, device, code. Wildcards: layer.
"""

from papergrid.logs import setup_logging
from papergrid.tokenformer.tuning import sweep_job

setup_logging(snakemake.log[0])
sweep_job(
    snakemake.params.block,
    snakemake.wildcards.layer,
    snakemake.params.device,
    snakemake.threads,
    snakemake.output.lr,
)
