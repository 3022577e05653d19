"""Draw the SFT figures from the runs and soups tables."""

from papergrid.logs import setup_logging
from papergrid.sft.plots import figures_job

setup_logging(snakemake.log[0])
figures_job(
    snakemake.input.runs,
    snakemake.input.soups,
    snakemake.params.reference_template,
    {k: snakemake.output[k] for k in ("templates", "ablation", "soups")},
)
