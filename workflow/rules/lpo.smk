# Adaptive decoding with a learned temperature head (LPO), a frozen model per seed.
import papergrid.lpo.grid as lpo_grid

LP = config["lpo"]
lpo_grid.check_block(LP)
LP_SEEDS = LP["grid"]["seed"]
LP_BASE = "results/lpo/base/s{seed}"
LP_DATA = "results/lpo/data/s{seed}"
LP_HEADS = "results/lpo/heads/s{seed}"
LP_KINDS = ("summary", "curve", "prompts")
LP_SEQ = 48  # tokens of a prompt and its response budget, at most (resources only)


rule lpo_base:
    output:
        **{kind: f"{LP_BASE}/{kind}.{ext}" for kind, ext in LM_RUN_FILES},
    log:
        logs("lpo", "base/s{seed}"),
    benchmark:
        bench("lpo", "base/s{seed}")
    retries: 1
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            [LP["base"]], LP_SEQ, threads, attempt
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            [LP["base"]], LP_SEQ, threads, attempt
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        # the base job measures the model on the test prompts: only their count matters
        block=canonical(
            {
                "tasks": LP["tasks"],
                "base": LP["base"],
                "data": {"n_test_per_family": LP["data"]["n_test_per_family"]},
            }
        ),
        seed=lambda wc: int(wc.seed),
        device=config["device"],
        code=code("lpo_base.py", "papergrid.lpo.jobs"),
    script:
        "../scripts/lpo_base.py"


# Per seed: preference data and its cached features, and every fixed temperature.
rule lpo_data:
    input:
        model=rules.lpo_base.output.model,
        vocab=rules.lpo_base.output.vocab,
    output:
        **{kind: f"{LP_DATA}/{kind}.parquet" for kind in LP_KINDS},
        pairs=f"{LP_DATA}/pairs.pt",
    log:
        logs("lpo", "data/s{seed}"),
    benchmark:
        bench("lpo", "data/s{seed}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        block=canonical(
            {
                **{k: LP[k] for k in ("tasks", "base", "data", "temperatures")},
                "grid": {"variant": LP["grid"]["variant"]},
            }
        ),
        device=config["device"],
        code=code("lpo_data.py", "papergrid.lpo.jobs"),
    script:
        "../scripts/lpo_data.py"


# Per seed: every head trained on that seed's data, and the per-task selector.
rule lpo_heads:
    input:
        model=rules.lpo_base.output.model,
        vocab=rules.lpo_base.output.vocab,
        pairs=rules.lpo_data.output.pairs,
        fixed=rules.lpo_data.output.prompts,
    output:
        **{kind: f"{LP_HEADS}/{kind}.parquet" for kind in LP_KINDS},
    log:
        logs("lpo", "heads/s{seed}"),
    benchmark:
        bench("lpo", "heads/s{seed}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: canonical(lpo_grid.head_runs(LP, int(wc.seed))),
        baselines=lambda wc: canonical(lpo_grid.baseline_runs(LP, int(wc.seed))),
        block=canonical({k: LP[k] for k in ("tasks", "base", "data")}),
        device=config["device"],
        code=code("lpo_heads.py", "papergrid.lpo.jobs"),
    script:
        "../scripts/lpo_heads.py"


rule lpo_aggregate:
    input:
        summaries=expand(
            "results/lpo/{job}/s{seed}/summary.parquet",
            job=("data", "heads"),
            seed=LP_SEEDS,
        ),
        curves=expand(
            "results/lpo/{job}/s{seed}/curve.parquet",
            job=("data", "heads"),
            seed=LP_SEEDS,
        ),
        prompts=expand(
            "results/lpo/{job}/s{seed}/prompts.parquet",
            job=("data", "heads"),
            seed=LP_SEEDS,
        ),
    output:
        runs="results/lpo/runs.parquet",
        curves="results/lpo/curves.parquet",
        prompts="results/lpo/prompts.parquet",
    log:
        logs("lpo", "aggregate"),
    benchmark:
        bench("lpo", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        learned=config["learned_gate"],
        code=code("lpo_aggregate.py", "papergrid.lpo.analysis"),
    script:
        "../scripts/lpo_aggregate.py"


rule lpo_table:
    input:
        runs=rules.lpo_aggregate.output.runs,
        prompts=rules.lpo_aggregate.output.prompts,
        pairs=expand(rules.lpo_data.output.pairs, seed=LP_SEEDS),
    output:
        winrates="results/lpo/winrates.parquet",
        winrates_md="results/lpo/winrates.md",
        rewards_md="results/lpo/rewards.md",
        chosen="results/lpo/chosen.parquet",
        chosen_md="results/lpo/chosen.md",
    log:
        logs("lpo", "table"),
    benchmark:
        bench("lpo", "table")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        level=LP["analysis"]["level"],
        n_boot=LP["analysis"]["n_boot"],
        code=code("lpo_table.py", "papergrid.lpo.analysis"),
    script:
        "../scripts/lpo_table.py"


rule lpo_figures:
    input:
        runs=rules.lpo_aggregate.output.runs,
        prompts=rules.lpo_aggregate.output.prompts,
    output:
        temperatures=report(
            "results/lpo/figures/temperatures.png",
            caption="../report/lpo_temperatures.rst",
            category="lpo",
        ),
        rewards=report(
            "results/lpo/figures/rewards.png",
            caption="../report/lpo_rewards.rst",
            category="lpo",
        ),
        positions=report(
            "results/lpo/figures/positions.png",
            caption="../report/lpo_positions.rst",
            category="lpo",
        ),
    log:
        logs("lpo", "figures"),
    benchmark:
        bench("lpo", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        temperatures=LP["temperatures"],
        code=code("lpo_figures.py", "papergrid.lpo.plots"),
    script:
        "../scripts/lpo_figures.py"


CLAIM_SETS["lpo"] = {
    "analysis": "papergrid.lpo.claims",
    "inputs": {"runs": rules.lpo_aggregate.output.runs},
    "settings": canonical(
        {
            "temperatures": LP["temperatures"],
            "variants": LP["grid"]["variant"],
            "losses": LP["grid"]["loss"],
            **{k: v for k, v in LP["analysis"].items() if k not in ("level", "n_boot")},
        }
    ),
    "level": LP["analysis"]["level"],
    "seeds": [["grid", "seed"]],
}
LP_VERDICTS = verdict_paths("lpo")


REPORT_SECTIONS.append(
    {
        "name": "lpo",
        "title": "Adaptive decoding with a learned temperature head (LPO)",
        "claims": LP_VERDICTS["claims"],
        "calibration": LP_VERDICTS["calibration"],
        "tables": [
            ("Calibration", LP_VERDICTS["calibration_md"]),
            ("Win rates", str(rules.lpo_table.output.winrates_md)),
            ("Rewards and temperatures", str(rules.lpo_table.output.rewards_md)),
            ("Chosen and rejected temperatures", str(rules.lpo_table.output.chosen_md)),
        ],
        "figures": [str(f) for f in rules.lpo_figures.output],
    }
)


rule lpo:
    input:
        LP_VERDICTS.values(),
        rules.lpo_table.output,
        rules.lpo_figures.output,
    localrule: True
