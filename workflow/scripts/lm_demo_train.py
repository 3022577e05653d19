"""Train the demo model on one data source.

Outputs: curve, summary (Parquet), model (final weights and config), vocab (JSON).
Params: source_cfg, model, train, device, checkpoint (resumable, not an output), code.
"""

from papergrid.lm.demo import CONTRACT
from papergrid.lm.jobs import train_lm_run
from papergrid.logs import setup_logging

setup_logging(snakemake.log[0])
source = snakemake.wildcards.source
train_lm_run(
    contract=CONTRACT,
    run_id=f"lm_demo/{source}",
    run={
        "source": source,
        "source_cfg": snakemake.params.source_cfg,
        "model": snakemake.params.model,
        "train": snakemake.params.train,
    },
    grid={"source": source},
    source=source,
    source_cfg=snakemake.params.source_cfg,
    model_cfg=snakemake.params.model,
    train_cfg=snakemake.params.train,
    device=snakemake.params.device,
    threads=snakemake.threads,
    code_hash=snakemake.params.code,
    curve_path=snakemake.output.curve,
    summary_path=snakemake.output.summary,
    model_path=snakemake.output.model,
    vocab_path=snakemake.output.vocab,
    checkpoint_path=snakemake.params.checkpoint,
)
