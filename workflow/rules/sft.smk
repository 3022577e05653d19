# Tülu 3 SFT at small scale: base model once, then template x seed, data ablation, soups.
from functools import partial

import papergrid.sft.grid as sft_grid

SF = config["sft"]
sft_grid.check_block(SF)
SF_MAIN = "results/sft/runs/main-{template}/s{seed}"
SF_VARIANT = "results/sft/runs/{job}/s{seed}"
SF_VARIANT_JOBS = sft_grid.variant_jobs(SF)
SF_BASE = "results/sft/base"
SF_SEQ = 128  # tokens: a chat-formatted example is at most about 100 characters


wildcard_constraints:
    template="|".join(SF["grid"]["template"]),
    job="|".join(SF_VARIANT_JOBS) or "no-variant-job",


SF_MAIN_OUT = run_outputs(SF_MAIN, SF["grid"]["seed"])
SF_VARIANT_OUT = run_outputs(SF_VARIANT, SF["grid"]["ablation_seeds"])
SF_JOB = partial(sft_grid.job_runs, SF)


# Trained once: every SFT run starts from these weights and this vocabulary.
rule sft_base:
    output:
        model=f"{SF_BASE}/model.pt",
        vocab=f"{SF_BASE}/vocab.json",
    log:
        logs("sft", "base"),
    benchmark:
        bench("sft", "base")
    retries: 1
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            [SF["base"]], SF_SEQ, threads, attempt
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            [SF["base"]], SF_SEQ, threads, attempt
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        data=canonical(SF["data"]),
        model=canonical(SF["base"]["model"]),
        train=canonical({**SF["base"]["train"], "checkpoint_every": 0}),
        device=config["device"],
        code=code("sft_base.py", "papergrid.sft.jobs"),
    script:
        "../scripts/sft_base.py"


# The control arm: the base model under every template before SFT.
rule sft_zero_shot:
    input:
        base=rules.sft_base.output.model,
        vocab=rules.sft_base.output.vocab,
    output:
        "results/sft/zero_shot.parquet",
    log:
        logs("sft", "zero_shot"),
    benchmark:
        bench("sft", "zero_shot")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        data=canonical(SF["data"]),
        templates=SF["grid"]["template"],
        device=config["device"],
        code=code("sft_zero_shot.py", "papergrid.sft.jobs"),
    script:
        "../scripts/sft_zero_shot.py"


# One job per template trains every seed, then soups the configured pairs of them.
rule sft_main:
    input:
        base=rules.sft_base.output.model,
        vocab=rules.sft_base.output.vocab,
    output:
        **SF_MAIN_OUT,
        soups="results/sft/soups/{template}.parquet",
    log:
        logs("sft", "main/{template}"),
    benchmark:
        bench("sft", "main/{template}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            job_runs(SF_JOB, f"main-{wc.template}"),
            SF_SEQ,
            threads,
            attempt,
            SF["base"]["model"],
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            job_runs(SF_JOB, f"main-{wc.template}"),
            SF_SEQ,
            threads,
            attempt,
            SF["base"]["model"],
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: job_runs(SF_JOB, f"main-{wc.template}"),
        soups=SF["soups"],
        device=config["device"],
        code=code("sft_train.py", "papergrid.sft.jobs"),
    script:
        "../scripts/sft_train.py"


# Data ablation (one skill left out) and the per-batch mean loss, on the reference template.
rule sft_variant:
    input:
        base=rules.sft_base.output.model,
        vocab=rules.sft_base.output.vocab,
    output:
        **SF_VARIANT_OUT,
    log:
        logs("sft", "variant/{job}"),
    benchmark:
        bench("sft", "variant/{job}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            job_runs(SF_JOB, wc.job),
            SF_SEQ,
            threads,
            attempt,
            SF["base"]["model"],
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            job_runs(SF_JOB, wc.job),
            SF_SEQ,
            threads,
            attempt,
            SF["base"]["model"],
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: job_runs(SF_JOB, wc.job),
        soups=[],
        device=config["device"],
        code=code("sft_train.py", "papergrid.sft.jobs"),
    script:
        "../scripts/sft_train.py"


rule sft_aggregate:
    input:
        summaries=expand(SF_MAIN_OUT["summary"], template=SF["grid"]["template"])
        + expand(SF_VARIANT_OUT["summary"], job=SF_VARIANT_JOBS),
        curves=expand(SF_MAIN_OUT["curve"], template=SF["grid"]["template"])
        + expand(SF_VARIANT_OUT["curve"], job=SF_VARIANT_JOBS),
    output:
        runs="results/sft/runs.parquet",
        curves="results/sft/curves.parquet",
    log:
        logs("sft", "aggregate"),
    benchmark:
        bench("sft", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        schema="papergrid.sft.grid",
        learned="papergrid.sft.learned" if config["learned_gate"] else "",
        code=code(
            "aggregate.py",
            "papergrid.aggregate",
            "papergrid.sft.grid",
            "papergrid.sft.learned",
        ),
    script:
        "../scripts/aggregate.py"


rule sft_variance:
    input:
        runs=rules.sft_aggregate.output.runs,
        soups=expand(rules.sft_main.output.soups, template=SF["grid"]["template"]),
    output:
        variance="results/sft/variance.parquet",
        soups="results/sft/soups.parquet",
        md="results/sft/variance.md",
    log:
        logs("sft", "variance"),
    benchmark:
        bench("sft", "variance")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_boot=SF["analysis"]["n_boot"],
        level=SF["analysis"]["level"],
        code=code("sft_variance.py", "papergrid.sft.analysis"),
    script:
        "../scripts/sft_variance.py"


CLAIM_SETS["sft"] = {
    "analysis": "papergrid.sft.claims",
    "inputs": {
        "runs": rules.sft_aggregate.output.runs,
        "soups": rules.sft_variance.output.soups,
    },
    "settings": canonical(
        {
            "reference_template": SF["reference_template"],
            **{
                key: SF["analysis"][key]
                for key in (
                    "sesoi_run_sd",
                    "sesoi_template",
                    "drop_threshold",
                    "others_margin",
                    "soup_margin",
                    "sesoi_reduction",
                )
            },
        }
    ),
    "level": SF["analysis"]["level"],
    "seeds": [["grid", "seed"], ["grid", "ablation_seeds"]],
}
SF_VERDICTS = verdict_paths("sft")


rule sft_figures:
    input:
        runs=rules.sft_aggregate.output.runs,
        soups=rules.sft_variance.output.soups,
    output:
        templates=report(
            "results/sft/figures/templates.png",
            caption="../report/sft_templates.rst",
            category="sft",
        ),
        ablation=report(
            "results/sft/figures/ablation.png",
            caption="../report/sft_ablation.rst",
            category="sft",
        ),
        soups=report(
            "results/sft/figures/soups.png",
            caption="../report/sft_soups.rst",
            category="sft",
        ),
    log:
        logs("sft", "figures"),
    benchmark:
        bench("sft", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        reference_template=SF["reference_template"],
        code=code("sft_figures.py", "papergrid.sft.plots"),
    script:
        "../scripts/sft_figures.py"


REPORT_SECTIONS.append(
    {
        "name": "sft",
        "title": "Tülu 3 supervised fine-tuning: seeds, chat templates, data, soups",
        "claims": SF_VERDICTS["claims"],
        "calibration": SF_VERDICTS["calibration"],
        "tables": [
            ("Calibration", SF_VERDICTS["calibration_md"]),
            ("Variance decomposition", str(rules.sft_variance.output.md)),
        ],
        "figures": [str(f) for f in rules.sft_figures.output],
    }
)


rule sft:
    input:
        SF_VERDICTS.values(),
        rules.sft_figures.output,
        rules.sft_zero_shot.output,
    localrule: True
