# "Weights don't move" (Jesus et al. 2021): width x optimizer x seed.

W = config["weights"]
W_RUN = "results/weights/runs/w{width}_{optimizer}_s{seed}"


wildcard_constraints:
    width=r"\d+",
    optimizer=r"sgd|adamw|adam",
    seed=r"\d+",


def weights_idx_inputs(wildcards):
    data = W["data"]
    return list(data["idx"].values()) if data["source"] == "idx" else []


def weights_run(wildcards):
    opt = W["optimizers"][wildcards.optimizer]
    return {
        "width": int(wildcards.width),
        "optimizer": wildcards.optimizer,
        "seed": int(wildcards.seed),
        "lr": opt["lr"],
        "momentum": opt["momentum"],
        "weight_decay": opt["weight_decay"],
        "epochs": W["train"]["epochs"],
        "batch_size": W["train"]["batch_size"],
        "stamp_mode": W["stamp"]["mode"],
        "stamp_letter": W["stamp"]["letter"],
        "stamp_amplitude": W["stamp"]["amplitude"],
    }


def weights_runs(field):
    return expand(f"{W_RUN}/{field}", **W["grid"])


# The stamp figure shows the first seed at the smallest and largest width.
W_SHOWN = [
    (opt, w)
    for opt in W["grid"]["optimizer"]
    for w in sorted({min(W["grid"]["width"]), max(W["grid"]["width"])})
]


rule weights_data:
    input:
        weights_idx_inputs,
    output:
        data="results/weights/data.npz",
    params:
        data=W["data"],
        code=code("papergrid.weights.data", "papergrid.weights.jobs"),
    log:
        logs("weights", "data"),
    benchmark:
        bench("weights", "data")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/weights_data.py"


rule weights_train:
    input:
        data=rules.weights_data.output.data,
    output:
        curve=f"{W_RUN}/curve.parquet",
        summary=f"{W_RUN}/summary.parquet",
        matrices=f"{W_RUN}/matrices.npz",
    params:
        run=weights_run,
        device=config["device"],
        code=code(
            "papergrid.weights.train",
            "papergrid.weights.model",
            "papergrid.weights.stamp",
            "papergrid.weights.data",
            "papergrid.weights.schema",
            "papergrid.weights.jobs",
        ),
    log:
        logs("weights", "train/w{width}_{optimizer}_s{seed}"),
    benchmark:
        bench("weights", "train/w{width}_{optimizer}_s{seed}")
    threads: 1
    resources:
        # two width x width matrices and Adam state, in float32, plus torch itself
        mem_mb=lambda wc, attempt: (1500 + int(wc.width) ** 2 * 64 // 2**20) * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    retries: 1
    conda:
        ENV
    script:
        "../scripts/weights_train.py"


rule weights_aggregate:
    input:
        summaries=weights_runs("summary.parquet"),
        curves=weights_runs("curve.parquet"),
    output:
        runs="results/weights/runs.parquet",
        curves="results/weights/curves.parquet",
    params:
        code=code("papergrid.weights.schema", "papergrid.weights.jobs"),
    log:
        logs("weights", "aggregate"),
    benchmark:
        bench("weights", "aggregate")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/weights_aggregate.py"


rule weights_fit:
    input:
        runs=rules.weights_aggregate.output.runs,
    output:
        parquet="results/weights/fits.parquet",
        md="results/weights/fits.md",
    params:
        n_boot=W["analysis"]["n_boot"],
        level=W["analysis"]["level"],
        code=code("papergrid.fit", "papergrid.weights.analysis", "papergrid.weights.jobs"),
    log:
        logs("weights", "fit"),
    benchmark:
        bench("weights", "fit")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/weights_fit.py"


rule weights_claims:
    input:
        runs=rules.weights_aggregate.output.runs,
        fits=rules.weights_fit.output.parquet,
    output:
        parquet="results/weights/claims.parquet",
        md="results/weights/claims.md",
    params:
        auc_threshold=W["analysis"]["auc_threshold"],
        level=W["analysis"]["level"],
        code=code(
            "papergrid.claims",
            "papergrid.stats",
            "papergrid.weights.analysis",
            "papergrid.weights.jobs",
        ),
    log:
        logs("weights", "claims"),
    benchmark:
        bench("weights", "claims")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/weights_claims.py"


rule weights_figures:
    input:
        runs=rules.weights_aggregate.output.runs,
        curves=rules.weights_aggregate.output.curves,
        fits=rules.weights_fit.output.parquet,
        matrices=[
            f"{W_RUN}/matrices.npz".format(
                width=w, optimizer=opt, seed=W["grid"]["seed"][0]
            )
            for opt, w in W_SHOWN
        ],
    output:
        stamps=report(
            "results/weights/figures/stamps.png",
            caption="../report/weights_stamps.rst",
            category="weights",
        ),
        scaling=report(
            "results/weights/figures/scaling.png",
            caption="../report/weights_scaling.rst",
            category="weights",
        ),
        curves=report(
            "results/weights/figures/curves.png",
            caption="../report/weights_curves.rst",
            category="weights",
        ),
    params:
        matrix_keys=W_SHOWN,
        auc_threshold=W["analysis"]["auc_threshold"],
        code=code("papergrid.plotting", "papergrid.weights.plots", "papergrid.fit"),
    log:
        logs("weights", "figures"),
    benchmark:
        bench("weights", "figures")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/weights_figures.py"


REPORT_SECTIONS.append(
    {
        "name": "weights",
        "title": "Weights don't move (Jesus et al. 2021)",
        "claims": rules.weights_claims.output.md,
        "fits": rules.weights_fit.output.md,
        "figures": list(rules.weights_figures.output),
    }
)


rule weights:
    localrule: True
    input:
        rules.weights_claims.output,
        rules.weights_fit.output,
        rules.weights_figures.output,
