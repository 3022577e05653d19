"""Win rates of the heads and the selector, the reward table, and the shares of chosen
and rejected temperatures in the preference data.

Inputs: runs, prompts, pairs (every seed's). Outputs: winrates, winrates_md, rewards_md,
chosen, chosen_md. Params: level, n_boot.
"""

from papergrid.logs import setup_logging
from papergrid.lpo.analysis import table_job

setup_logging(snakemake.log[0])
table_job(
    snakemake.input.runs,
    snakemake.input.prompts,
    list(snakemake.input.pairs),
    snakemake.params.level,
    snakemake.params.n_boot,
    {
        k: snakemake.output[k]
        for k in ("winrates", "winrates_md", "rewards_md", "chosen", "chosen_md")
    },
)
