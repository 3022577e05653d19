# TokenFormer's parameter attention against a plain MLP, growth by appending tokens.
import papergrid.tokenformer.grid as tf_grid

TF = config["tokenformer"]
tf_grid.check_block(TF)
TF_JOB = "results/tokenformer/runs/{layer}/s{seed}"


wildcard_constraints:
    layer="|".join(tf_grid.LAYERS),


# Each architecture's peak learning rates (growth runs, scratch runs), from a sweep on data
# no claim reads.
rule tokenformer_lr:
    output:
        lr="results/tokenformer/lr/{layer}.json",
    log:
        logs("tokenformer", "lr/{layer}"),
    benchmark:
        bench("tokenformer", "lr/{layer}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        block=canonical({k: TF[k] for k in ("model", "growth", "train", "markov")}),
        device=config["device"],
        code=code("tokenformer_lr.py", "papergrid.tokenformer.tuning"),
    script:
        "../scripts/tokenformer_lr.py"


# One job per (architecture, seed): the first stage once, every growth arm from it, and
# the final shape from scratch.
rule tokenformer_train:
    input:
        lr=rules.tokenformer_lr.output.lr,
    output:
        summary=f"{TF_JOB}/summary.parquet",
        curve=f"{TF_JOB}/curve.parquet",
    log:
        logs("tokenformer", "train/{layer}/s{seed}"),
    benchmark:
        bench("tokenformer", "train/{layer}/s{seed}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            tf_grid.family_runs(TF, wc.layer, int(wc.seed)),
            TF["markov"]["seq_len"],
            threads,
            attempt,
            tf_grid.shape(TF["model"], wc.layer, tf_grid.final_factor(TF)),
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            tf_grid.family_runs(TF, wc.layer, int(wc.seed)),
            TF["markov"]["seq_len"],
            threads,
            attempt,
            tf_grid.shape(TF["model"], wc.layer, tf_grid.final_factor(TF)),
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: canonical(tf_grid.family_runs(TF, wc.layer, int(wc.seed))),
        block=canonical({k: TF[k] for k in ("model", "growth", "train", "markov")}),
        device=config["device"],
        code=code(
            "tokenformer_train.py",
            "papergrid.tokenformer.jobs",
            "papergrid.tokenformer.tuning",
        ),
    script:
        "../scripts/tokenformer_train.py"


TF_FILES = expand(
    "results/tokenformer/runs/{layer}/s{seed}/{{kind}}.parquet",
    layer=tf_grid.families(TF),
    seed=TF["grid"]["seed"],
)


rule tokenformer_aggregate:
    input:
        summaries=expand(TF_FILES, kind="summary"),
        curves=expand(TF_FILES, kind="curve"),
    output:
        runs="results/tokenformer/runs.parquet",
        curves="results/tokenformer/curves.parquet",
    log:
        logs("tokenformer", "aggregate"),
    benchmark:
        bench("tokenformer", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        target_steps=tf_grid.target_steps(TF),
        same_steps=tf_grid.same_steps(TF),
        vocab=TF["markov"]["vocab"] if config["learned_gate"] else 0,
        code=code("tokenformer_aggregate.py", "papergrid.tokenformer.analysis"),
    script:
        "../scripts/tokenformer_aggregate.py"


rule tokenformer_table:
    input:
        runs=rules.tokenformer_aggregate.output.runs,
    output:
        compute="results/tokenformer/compute.parquet",
        compute_md="results/tokenformer/compute.md",
    log:
        logs("tokenformer", "table"),
    benchmark:
        bench("tokenformer", "table")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        share=TF["analysis"]["share"],
        level=TF["analysis"]["level"],
        code=code("tokenformer_table.py", "papergrid.tokenformer.analysis"),
    script:
        "../scripts/tokenformer_table.py"


rule tokenformer_figures:
    input:
        runs=rules.tokenformer_aggregate.output.runs,
        curves=rules.tokenformer_aggregate.output.curves,
    output:
        loss_compute=report(
            "results/tokenformer/figures/loss_compute.png",
            caption="../report/tokenformer_loss_compute.rst",
            category="tokenformer",
        ),
        jumps=report(
            "results/tokenformer/figures/jumps.png",
            caption="../report/tokenformer_jumps.rst",
            category="tokenformer",
        ),
    log:
        logs("tokenformer", "figures"),
    benchmark:
        bench("tokenformer", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        share=TF["analysis"]["share"],
        code=code("tokenformer_figures.py", "papergrid.tokenformer.plots"),
    script:
        "../scripts/tokenformer_figures.py"


CLAIM_SETS["tokenformer"] = {
    "analysis": "papergrid.tokenformer.claims",
    "inputs": {"runs": rules.tokenformer_aggregate.output.runs},
    "settings": canonical(
        {
            "arms": TF["grid"]["arm"],
            "norm": TF["model"]["norm"],
            "share": TF["analysis"]["share"],
            "sesoi_loss": TF["analysis"]["sesoi_loss"],
            "reach_margin": TF["analysis"]["reach_margin"],
            "target_steps": tf_grid.target_steps(TF),
            "same_steps": tf_grid.same_steps(TF),
        }
    ),
    "level": TF["analysis"]["level"],
    "seeds": [["grid", "seed"]],
}
TF_VERDICTS = verdict_paths("tokenformer")


REPORT_SECTIONS.append(
    {
        "name": "tokenformer",
        "title": "TokenFormer: parameter attention and growth against a plain MLP",
        "claims": TF_VERDICTS["claims"],
        "calibration": TF_VERDICTS["calibration"],
        "tables": [
            ("Calibration", TF_VERDICTS["calibration_md"]),
            (
                "Compute to reach the scratch loss",
                str(rules.tokenformer_table.output.compute_md),
            ),
        ],
        "figures": [str(f) for f in rules.tokenformer_figures.output],
    }
)


rule tokenformer:
    input:
        TF_VERDICTS.values(),
        rules.tokenformer_table.output,
        rules.tokenformer_figures.output,
    localrule: True
