"""What the config's grid can decide before any training (the power planner).

Inputs: none declared: it reads results/<experiment>/ of the last run when there is one,
else the pilot figures shipped with the package. Outputs: md (the table, also printed to
the log), json (the figures). Params: blocks (each experiment's config block), seeds (the
config paths of each experiment's seed lists).
"""

from papergrid.logs import setup_logging
from papergrid.planner import power_job

setup_logging(snakemake.log[0])
power_job(
    snakemake.params.blocks,
    snakemake.params.seeds,
    "results",
    snakemake.output.md,
    snakemake.output.json,
)
