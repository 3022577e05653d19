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


# Every job's run directories, per start seed: the two starts, then each tuning job.
PO_RUN_DIRS = [
    PO_START.replace("{start}", "sft"),
    PO_START.replace("{start}", "weak"),
    *(PO_DPO.replace("{pjob}", j) for j in PO_DPO_JOBS),
    *(PO_RL.replace("{pjob}", j) for j in PO_RL_JOBS),
]
PO_SUMMARIES = [
    f for d in PO_RUN_DIRS for f in expand(f"{d}/summary.parquet", seed=PO_SEEDS)
]
PO_CURVES = [
    f for d in PO_RUN_DIRS for f in expand(f"{d}/curve.parquet", seed=PO_SEEDS)
]


# One job per start seed: prompt pools, on-policy samples, every pair arm with the start's
# log-probabilities of its pairs (the cached reference), and the start's own evaluation.
rule post_data:
    input:
        model=f"{PO_SFT}/model.pt",
        vocab=f"{PO_SFT}/vocab.json",
    output:
        pairs=PO_PAIRS,
        curve=f"{PO_RUN_DIRS[0]}/curve.parquet",
        summary=f"{PO_RUN_DIRS[0]}/summary.parquet",
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
        start_curve=expand(f"{PO_RUN_DIRS[1]}/curve.parquet", seed=PO_SEEDS),
        start_summary=expand(f"{PO_RUN_DIRS[1]}/summary.parquet", seed=PO_SEEDS),
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
        sft_runs=canonical(post_grid.weak_sft_runs(SF, PO)),
        starts=[canonical(post_grid.start_run(PO, s, "weak")) for s in PO_SEEDS],
        sft_data=canonical(SF["data"]),
        device=config["device"],
        code=code("post_weak.py", "papergrid.post.jobs"),
    script:
        "../scripts/post_weak.py"


rule post_dpo:
    input:
        pairs=expand(PO_PAIRS, seed=PO_SEEDS),
        start=expand(f"{PO_SFT}/model.pt", seed=PO_SEEDS),
        vocab=f"{PO_SFT.format(seed=PO_SEEDS[0])}/vocab.json",
    output:
        curve=expand(f"{PO_DPO}/curve.parquet", seed=PO_SEEDS, allow_missing=True),
        summary=expand(f"{PO_DPO}/summary.parquet", seed=PO_SEEDS, allow_missing=True),
    log:
        logs("post", "dpo/{pjob}"),
    benchmark:
        bench("post", "dpo/{pjob}")
    wildcard_constraints:
        pjob="|".join(re.escape(j) for j in PO_DPO_JOBS),
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
    input:
        pairs=expand(PO_PAIRS, seed=PO_SEEDS),
        # the "-weak" jobs start from the weaker SFT checkpoint
        start=lambda wc: expand(
            f"{PO_WEAK if wc.pjob.endswith('-weak') else PO_SFT}/model.pt",
            seed=PO_SEEDS,
        ),
        vocab=f"{PO_SFT.format(seed=PO_SEEDS[0])}/vocab.json",
    output:
        curve=expand(f"{PO_RL}/curve.parquet", seed=PO_SEEDS, allow_missing=True),
        summary=expand(f"{PO_RL}/summary.parquet", seed=PO_SEEDS, allow_missing=True),
    log:
        logs("post", "rl/{pjob}"),
    benchmark:
        bench("post", "rl/{pjob}")
    wildcard_constraints:
        pjob="|".join(re.escape(j) for j in PO_RL_JOBS),
    params:
        runs=lambda wc: canonical(post_grid.rl_runs(PO, wc.pjob)),
        kind="rl",
        sft_data=canonical(SF["data"]),
        device=config["device"],
        code=code("post_train.py", "papergrid.post.jobs"),


rule post_aggregate:
    input:
        summaries=PO_SUMMARIES,
        curves=PO_CURVES,
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
        summaries=PO_SUMMARIES,
        curves=PO_CURVES,
        learned="papergrid.post.learned" if config["learned_gate"] else "",
        code=code(
            "aggregate.py",
            "papergrid.aggregate",
            "papergrid.post.grid",
            "papergrid.post.learned",
        ),
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
    "seeds": [["start", "seeds"]],
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
