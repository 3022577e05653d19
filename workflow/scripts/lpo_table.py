"""Win rates of the heads and the selector, and the reward table.

Inputs: runs, prompts. Outputs: winrates, winrates_md, rewards_md. Params: level, n_boot.
"""

from papergrid.logs import setup_logging
from papergrid.lpo.analysis import table_job

setup_logging(snakemake.log[0])
table_job(
    snakemake.input.runs,
    snakemake.input.prompts,
    snakemake.params.level,
    snakemake.params.n_boot,
    {k: snakemake.output[k] for k in ("winrates", "winrates_md", "rewards_md")},
)
