# Tülu 3 preference tuning and RLVR, starting from the SFT experiment's checkpoints.
import re

import papergrid.post.grid as post_grid

PO = config["post"]
post_grid.check_block(PO, SF)
PO_SEEDS = PO["start"]["seeds"]
PO_TEMPLATE = PO["start"]["template"]
PO_DPO_JOBS = post_grid.dpo_jobs(PO)
PO_RL_JOBS = post_grid.rl_jobs(PO)
PO_PAIRS = "results/post/data/s{seed}/pairs.pt"
PO_START = "results/post/start/{start}/s{seed}"  # each start's own evaluation
PO_DPO = "results/post/dpo/{pjob}/s{seed}"
PO_RL = "results/post/rl/{pjob}/s{seed}"
PO_WEAK = "results/post/weak/s{seed}"  # the weaker start's SFT checkpoint
PO_SFT = SF_MAIN.replace("{template}", PO_TEMPLATE)  # the SFT checkpoints, per seed


def po_files(run, **wildcards):
    """Per-seed curve and summary of one post-training job, by kind."""
    return {
        kind: expand(f"{run}/{kind}.parquet", seed=PO_SEEDS, **wildcards)
        for kind in ("curve", "summary")
    }


PO_ALL = [
    po_files(PO_START, start="sft"),
    po_files(PO_START, start="weak"),
    *(po_files(PO_DPO, pjob=j) for j in PO_DPO_JOBS),
    *(po_files(PO_RL, pjob=j) for j in PO_RL_JOBS),
]


def po_start_models(pjob):
    """The checkpoint each seed of ``pjob`` starts from: SFT, or the weaker start."""
    if pjob.endswith("-weak"):
        return expand(f"{PO_WEAK}/model.pt", seed=PO_SEEDS)
    return expand(f"{PO_SFT}/model.pt", seed=PO_SEEDS)


# One job per start seed: prompt pools, on-policy samples, every pair arm with the start's
# log-probabilities of its pairs (the cached reference), and the start's own evaluation.
rule post_data:
    input:
        model=f"{PO_SFT}/model.pt",
        vocab=f"{PO_SFT}/vocab.json",
    output:
        pairs=PO_PAIRS,
        curve=PO_START.replace("{start}", "sft") + "/curve.parquet",
        summary=PO_START.replace("{start}", "sft") + "/summary.parquet",
    log:
        logs("post", "data/s{seed}"),
    benchmark:
        bench("post", "data/s{seed}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        run=lambda wc: canonical(post_grid.start_run(PO, int(wc.seed))),
        sft_data=canonical(SF["data"]),
        device=config["device"],
        code=code("post_data.py", "papergrid.post.jobs"),
    script:
        "../scripts/post_data.py"


# The weaker start of the RLVR comparison: SFT from the same base, fewer steps.
rule post_weak:
    input:
        base=rules.sft_base.output.model,
        vocab=rules.sft_base.output.vocab,
    output:
        **run_outputs(PO_WEAK, PO_SEEDS),
        **{f"start_{k}": v for k, v in po_files(PO_START, start="weak").items()},
    log:
        logs("post", "weak"),
    benchmark:
        bench("post", "weak")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        sft_runs=lambda wc: post_grid.weak_sft_runs(SF, PO),
        starts=[canonical(post_grid.start_run(PO, s, "weak")) for s in PO_SEEDS],
        sft_data=canonical(SF["data"]),
        device=config["device"],
        code=code("post_weak.py", "papergrid.post.jobs"),
    script:
        "../scripts/post_weak.py"


rule post_dpo:
    wildcard_constraints:
        pjob="|".join(re.escape(j) for j in PO_DPO_JOBS),
    input:
        pairs=expand(PO_PAIRS, seed=PO_SEEDS),
        start=po_start_models("sft"),
        vocab=PO_SFT.format(seed=PO_SEEDS[0]) + "/vocab.json",
    output:
        curve=expand(f"{PO_DPO}/curve.parquet", seed=PO_SEEDS, allow_missing=True),
        summary=expand(f"{PO_DPO}/summary.parquet", seed=PO_SEEDS, allow_missing=True),
    log:
        logs("post", "dpo/{pjob}"),
    benchmark:
        bench("post", "dpo/{pjob}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: canonical(post_grid.dpo_runs(PO, wc.pjob)),
        kind="dpo",
        sft_data=canonical(SF["data"]),
        device=config["device"],
        code=code("post_train.py", "papergrid.post.jobs"),
    script:
        "../scripts/post_train.py"


use rule post_dpo as post_rl with:
    wildcard_constraints:
        pjob="|".join(re.escape(j) for j in PO_RL_JOBS),
    input:
        pairs=expand(PO_PAIRS, seed=PO_SEEDS),
        start=lambda wc: po_start_models(wc.pjob),
        vocab=PO_SFT.format(seed=PO_SEEDS[0]) + "/vocab.json",
    output:
        curve=expand(f"{PO_RL}/curve.parquet", seed=PO_SEEDS, allow_missing=True),
        summary=expand(f"{PO_RL}/summary.parquet", seed=PO_SEEDS, allow_missing=True),
    log:
        logs("post", "rl/{pjob}"),
    benchmark:
        bench("post", "rl/{pjob}")
    params:
        runs=lambda wc: canonical(post_grid.rl_runs(PO, wc.pjob)),
        kind="rl",
        sft_data=canonical(SF["data"]),
        device=config["device"],
        code=code("post_train.py", "papergrid.post.jobs"),


rule post_aggregate:
    input:
        summaries=[f for files in PO_ALL for f in files["summary"]],
        curves=[f for files in PO_ALL for f in files["curve"]],
    output:
        runs="results/post/runs.parquet",
        curves="results/post/curves.parquet",
    log:
        logs("post", "aggregate"),
    benchmark:
        bench("post", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        schema="papergrid.post.grid",
        summaries=[f for files in PO_ALL for f in files["summary"]],
        curves=[f for files in PO_ALL for f in files["curve"]],
        code=code("aggregate.py", "papergrid.aggregate", "papergrid.post.grid"),
    script:
        "../scripts/aggregate.py"


rule post_table:
    input:
        runs=rules.post_aggregate.output.runs,
    output:
        md="results/post/methods.md",
    log:
        logs("post", "table"),
    benchmark:
        bench("post", "table")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("post_table.py", "papergrid.post.analysis"),
    script:
        "../scripts/post_table.py"


rule post_figures:
    input:
        runs=rules.post_aggregate.output.runs,
        curves=rules.post_aggregate.output.curves,
    output:
        losses=report(
            "results/post/figures/losses.png",
            caption="../report/post_losses.rst",
            category="post",
        ),
        rlvr=report(
            "results/post/figures/rlvr.png",
            caption="../report/post_rlvr.rst",
            category="post",
        ),
        cost=report(
            "results/post/figures/cost.png",
            caption="../report/post_cost.rst",
            category="post",
        ),
    log:
        logs("post", "figures"),
    benchmark:
        bench("post", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        skill=PO["rl"]["rlvr"]["skill"],
        code=code("post_figures.py", "papergrid.post.plots"),
    script:
        "../scripts/post_figures.py"


CLAIM_SETS["post"] = {
    "analysis": "papergrid.post.claims",
    "inputs": {"runs": rules.post_aggregate.output.runs},
    "settings": canonical(
        {
            "reference": PO["dpo"]["reference"],
            "main": PO["dpo"]["main"],
            "arms": PO["dpo"]["arms"],
            "length": PO["dpo"]["length"],
            "rlvr": PO["rl"]["rlvr"],
            **{k: v for k, v in PO["analysis"].items() if k != "level"},
        }
    ),
    "level": PO["analysis"]["level"],
}
PO_VERDICTS = verdict_paths("post")


REPORT_SECTIONS.append(
    {
        "name": "post",
        "title": "Tülu 3 preference tuning and RL with verifiable rewards",
        "claims": PO_VERDICTS["claims"],
        "calibration": PO_VERDICTS["calibration"],
        "tables": [
            ("Calibration", PO_VERDICTS["calibration_md"]),
            ("Runs per method, arm and beta", str(rules.post_table.output.md)),
        ],
        "figures": [str(f) for f in rules.post_figures.output],
    }
)


rule post:
    input:
        PO_VERDICTS.values(),
        rules.post_table.output,
        rules.post_figures.output,
    localrule: True


# The issue's names for the two halves; both share one runs table, claims and figures.
use rule post as preference


use rule post as rlvr
