# The language-model core on each data source: one tiny model per source (no claim).

LMD = config["lm_demo"]
LMD_RUN = "results/lm_demo/runs/{source}"


wildcard_constraints:
    source=r"markov|scan|tasks",


rule lm_demo_train:
    output:
        curve=f"{LMD_RUN}/curve.parquet",
        summary=f"{LMD_RUN}/summary.parquet",
        model=f"{LMD_RUN}/model.pt",
        vocab=f"{LMD_RUN}/vocab.json",
    log:
        logs("lm_demo", "train/{source}"),
    benchmark:
        bench("lm_demo", "train/{source}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=lambda wc, threads, attempt: train_request([LMD], 64, threads, attempt)[
            "mem_mb"
        ],
        runtime=lambda wc, threads, attempt: train_request(
            [LMD], 64, threads, attempt
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        source_cfg=lambda wc: canonical(LMD[wc.source]),
        model=canonical(LMD["model"]),
        train=canonical(LMD["train"]),
        device=config["device"],
        # not an output: it must survive the job being killed so a rerun resumes from it
        checkpoint=lambda wc: f"results/lm_demo/checkpoints/{wc.source}.pt",
        code=code("lm_demo_train.py", "papergrid.lm.jobs", "papergrid.lm.demo"),
    script:
        "../scripts/lm_demo_train.py"


rule lm_demo_aggregate:
    input:
        summaries=expand(f"{LMD_RUN}/summary.parquet", source=LMD["sources"]),
        curves=expand(f"{LMD_RUN}/curve.parquet", source=LMD["sources"]),
    output:
        runs="results/lm_demo/runs.parquet",
        curves="results/lm_demo/curves.parquet",
    log:
        logs("lm_demo", "aggregate"),
    benchmark:
        bench("lm_demo", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        schema="papergrid.lm.demo",
        code=code("aggregate.py", "papergrid.aggregate", "papergrid.lm.demo"),
    script:
        "../scripts/aggregate.py"


rule lm_demo_summary:
    input:
        runs=rules.lm_demo_aggregate.output.runs,
    output:
        md="results/lm_demo/summary.md",
    log:
        logs("lm_demo", "summary"),
    benchmark:
        bench("lm_demo", "summary")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("lm_demo_summary.py", "papergrid.lm.demo"),
    script:
        "../scripts/lm_demo_summary.py"


REPORT_SECTIONS.append(
    {
        "name": "lm_demo",
        "title": "Language-model core: one tiny model per data source",
        "tables": [("Runs", str(rules.lm_demo_summary.output.md))],
        "figures": [],
    }
)


rule lm_demo:
    input:
        rules.lm_demo_summary.output,
    localrule: True
