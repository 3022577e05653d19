# Scaling laws for precision (Kumar et al. 2024): size x tokens per parameter x bits.
from functools import partial

import papergrid.precision.capacity as capacity_grid
import papergrid.precision.grid as precision_grid

PR = config["precision"]
precision_grid.check_block(PR)
PC = PR["capacity"]
capacity_grid.check_block(PC)
PR_RATIOS = [f"{r:g}" for r in PR["grid"]["tokens_per_param"]]
PR_CELL = "results/precision/runs/d{d_model}_r{ratio}"
PR_RUN = f"{PR_CELL}/s{{seed}}_{{setting}}"
PR_JOB = partial(precision_grid.cell_runs, PR)
# every run's folder: a cell's settings depend on its size (the one-tensor sweeps)
PR_RUNS = [
    PR_RUN.format(d_model=d, ratio=r, seed=s, setting=x)
    for d in PR["grid"]["d_model"]
    for r in PR_RATIOS
    for s in PR["grid"]["seeds"]
    for x in precision_grid.settings(PR, d)
]
# what one training job writes: a (size, D/N) folder, or one run's when not packed
PR_UNIT = PR_CELL if PR["pack"] else PR_RUN
PR_UNIT_NAME = "d{d_model}_r{ratio}" + ("" if PR["pack"] else "_s{seed}_{setting}")
PR_UNITS = (
    expand(PR_CELL, d_model=PR["grid"]["d_model"], ratio=PR_RATIOS)
    if PR["pack"]
    else PR_RUNS
)


# the runs of one training job (a packed pair, or one run)
pr_job = lambda wc: job_runs(
    PR_JOB, wc.d_model, wc.ratio, seed=wc.get("seed"), setting=wc.get("setting")
)


wildcard_constraints:
    n_layer=r"\d+",
    d_model=r"\d+",
    ratio=r"[0-9.e+-]+",
    seed=r"\d+",
    setting=r"[a-z0-9]+",


# Packed, one job per (size, D/N) pair trains every seed and setting: each process pays
# ~7 s of imports, and the runs of a seed share one prepared data set.
rule precision_train:
    output:
        unit=directory(PR_UNIT),
    log:
        logs("precision", f"train/{PR_UNIT_NAME}"),
    benchmark:
        bench("precision", f"train/{PR_UNIT_NAME}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            pr_job(wc), PR["markov"]["seq_len"], threads, attempt
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            pr_job(wc), PR["markov"]["seq_len"], threads, attempt
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=pr_job,
        files=lambda wc: cell_files(
            PR_RUN,
            wc,
            seed=PR["grid"]["seeds"],
            setting=precision_grid.settings(PR, int(wc.d_model)),
        ),
        device=config["device"],
        code=code("precision_train.py", "papergrid.precision.jobs"),
    script:
        "../scripts/precision_train.py"


# Knowledge capacity: one job per seed trains every size on the same facts.
PC_RUN = "results/precision/capacity/runs/s{seed}/d{d_model}_l{n_layer}"
PC_ALL = [
    PC_RUN.format(seed=r["seed"], d_model=r["d_model"], n_layer=r["n_layer"])
    for r in capacity_grid.capacity_runs(PC)
]


# the runs of one capacity seed, and their files
pc_job = lambda wc: canonical(
    [r for r in capacity_grid.capacity_runs(PC) if str(r["seed"]) == wc.seed]
)
pc_files = lambda wc: {
    kind: [
        f"{PC_RUN}/{kind}.{ext}".format(
            seed=r["seed"], d_model=r["d_model"], n_layer=r["n_layer"]
        )
        for r in pc_job(wc)
    ]
    for kind, ext in LM_RUN_FILES
}


rule precision_capacity_train:
    output:
        unit=directory("results/precision/capacity/runs/s{seed}"),
    log:
        logs("precision", "capacity/train/s{seed}"),
    benchmark:
        bench("precision", "capacity/train/s{seed}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=lambda wc, threads, attempt: train_request(
            pc_job(wc),
            capacity_grid.fact_set(PC["facts"]).seq_len,
            threads,
            attempt,
            model=max((r["model"] for r in pc_job(wc)), key=lambda m: m["d_model"]),
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            pc_job(wc),
            capacity_grid.fact_set(PC["facts"]).seq_len,
            threads,
            attempt,
            model=max((r["model"] for r in pc_job(wc)), key=lambda m: m["d_model"]),
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=pc_job,
        files=pc_files,
        device=config["device"],
        code=code("precision_capacity_train.py", "papergrid.precision.capacity_jobs"),
    script:
        "../scripts/precision_capacity_train.py"


rule precision_capacity_aggregate:
    input:
        units=expand("results/precision/capacity/runs/s{seed}", seed=PC["seeds"]),
    output:
        runs="results/precision/capacity.parquet",
        curves="results/precision/capacity_curves.parquet",
    log:
        logs("precision", "capacity/aggregate"),
    benchmark:
        bench("precision", "capacity/aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        schema="papergrid.precision.capacity",
        summaries=[f"{r}/summary.parquet" for r in PC_ALL],
        curves=[f"{r}/curve.parquet" for r in PC_ALL],
        code=code("aggregate.py", "papergrid.aggregate", "papergrid.precision.capacity"),
    script:
        "../scripts/aggregate.py"


rule precision_aggregate:
    input:
        units=PR_UNITS,
    output:
        runs="results/precision/runs.parquet",
        curves="results/precision/curves.parquet",
    log:
        logs("precision", "aggregate"),
    benchmark:
        bench("precision", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        schema="papergrid.precision.grid",
        summaries=[f"{r}/summary.parquet" for r in PR_RUNS],
        curves=[f"{r}/curve.parquet" for r in PR_RUNS],
        learned="papergrid.precision.learned" if config["learned_gate"] else "",
        code=code(
            "aggregate.py",
            "papergrid.aggregate",
            "papergrid.precision.grid",
            "papergrid.precision.learned",
        ),
    script:
        "../scripts/aggregate.py"


rule precision_fit:
    input:
        runs=rules.precision_aggregate.output.runs,
    output:
        parquet="results/precision/fits.parquet",
        md="results/precision/fits.md",
    log:
        logs("precision", "fit"),
    benchmark:
        bench("precision", "fit")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        n_boot=PR["analysis"]["n_boot"],
        level=PR["analysis"]["level"],
        code=code("precision_fit.py", "papergrid.precision.analysis"),
    script:
        "../scripts/precision_fit.py"


CLAIM_SETS["precision"] = {
    "analysis": "papergrid.precision.claims",
    "inputs": {
        "runs": rules.precision_aggregate.output.runs,
        "capacity": rules.precision_capacity_aggregate.output.runs,
    },
    "settings": canonical(
        {
            **{
                key: PR["analysis"][key]
                for key in (
                    "saturation_bits",
                    "robust_train_bits",
                    "robust_post_bits",
                    "p_star_band",
                    "p_star_float_band",
                    "multiplier_bits",
                    "sesoi_p_star_slope",
                    "sesoi_gamma_d",
                    "robust_ratio",
                )
            },
            "marginal_bits": PR["grid"]["marginal_bits"],
            "train_bits": PR["grid"]["train_bits"],
            "capacity": PC["analysis"],
        }
    ),
    "level": PR["analysis"]["level"],
    "seeds": [["grid", "seeds"], ["capacity", "seeds"]],
}
P_VERDICTS = verdict_paths("precision")


rule precision_figures:
    input:
        runs=rules.precision_aggregate.output.runs,
        fits=rules.precision_fit.output.parquet,
        capacity=rules.precision_capacity_aggregate.output.runs,
    output:
        loss=report(
            "results/precision/figures/loss.png",
            caption="../report/precision_loss.rst",
            category="precision",
        ),
        neff=report(
            "results/precision/figures/neff.png",
            caption="../report/precision_neff.rst",
            category="precision",
        ),
        ptq=report(
            "results/precision/figures/ptq.png",
            caption="../report/precision_ptq.rst",
            category="precision",
        ),
        residuals=report(
            "results/precision/figures/residuals.png",
            caption="../report/precision_residuals.rst",
            category="precision",
        ),
        capacity=report(
            "results/precision/figures/capacity.png",
            caption="../report/precision_capacity.rst",
            category="precision",
        ),
    log:
        logs("precision", "figures"),
    benchmark:
        bench("precision", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        code=code("precision_figures.py", "papergrid.precision.plots"),
    script:
        "../scripts/precision_figures.py"


REPORT_SECTIONS.append(
    {
        "name": "precision",
        "title": "Scaling laws for precision (Kumar et al. 2024)",
        "claims": P_VERDICTS["claims"],
        "calibration": P_VERDICTS["calibration"],
        "tables": [
            ("Calibration", P_VERDICTS["calibration_md"]),
            ("Fits", str(rules.precision_fit.output.md)),
        ],
        "figures": [str(f) for f in rules.precision_figures.output],
    }
)


rule precision:
    input:
        P_VERDICTS.values(),
        rules.precision_figures.output,
    localrule: True
