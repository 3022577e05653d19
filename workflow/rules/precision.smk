# Scaling laws for precision (Kumar et al. 2024): size x tokens per parameter x bits.
from functools import partial

import papergrid.precision.grid as precision_grid

PR = config["precision"]
precision_grid.check_block(PR)
PR_RATIOS = [f"{r:g}" for r in PR["grid"]["tokens_per_param"]]
PR_BITS = [str(b) for b in PR["grid"]["train_bits"]]
PR_CELL = "results/precision/runs/d{d_model}_r{ratio}"
PR_RUN = f"{PR_CELL}/p{{bits}}"
PR_ALL = dict(d_model=PR["grid"]["d_model"], ratio=PR_RATIOS, bits=PR_BITS)
PR_JOB = partial(precision_grid.cell_runs, PR)
# what one training job writes: a cell's folder, or one run's when not packed
PR_UNIT = PR_CELL if PR["pack"] else PR_RUN
PR_UNIT_NAME = "d{d_model}_r{ratio}" + ("" if PR["pack"] else "_p{bits}")
# each once: a packed unit has no bits wildcard, so expand repeats it per precision
PR_UNITS = list(dict.fromkeys(expand(PR_UNIT, **PR_ALL)))


wildcard_constraints:
    d_model=r"\d+",
    ratio=r"[0-9.e+-]+",
    bits=r"\d+|fp",


# Packed, one job per (size, D/N) cell trains every precision: each process pays ~7 s of
# imports.
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
            job_runs(PR_JOB, wc.d_model, wc.ratio, train_bits=wc.get("bits")),
            PR["markov"]["seq_len"],
            threads,
            attempt,
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: train_request(
            job_runs(PR_JOB, wc.d_model, wc.ratio, train_bits=wc.get("bits")),
            PR["markov"]["seq_len"],
            threads,
            attempt,
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: job_runs(
            PR_JOB, wc.d_model, wc.ratio, train_bits=wc.get("bits")
        ),
        files=lambda wc: cell_files(PR_RUN, wc, bits=PR_BITS),
        device=config["device"],
        code=code("precision_train.py", "papergrid.precision.jobs"),
    script:
        "../scripts/precision_train.py"


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
        summaries=expand(f"{PR_RUN}/summary.parquet", **PR_ALL),
        curves=expand(f"{PR_RUN}/curve.parquet", **PR_ALL),
        code=code("aggregate.py", "papergrid.aggregate", "papergrid.precision.grid"),
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
        markov={
            k: PR["markov"][k]
            for k in (
                "vocab",
                "order",
                "branching",
                "zipf_s",
                "smoothing",
                "table_seed",
            )
        },
        code=code("precision_fit.py", "papergrid.precision.analysis"),
    script:
        "../scripts/precision_fit.py"


CLAIM_SETS["precision"] = {
    "analysis": "papergrid.precision.claims",
    "inputs": {"runs": rules.precision_aggregate.output.runs},
    "settings": canonical(
        {
            key: PR["analysis"][key]
            for key in (
                "saturation_bits",
                "robust_train_bits",
                "robust_post_bits",
                "p_star_band",
                "sesoi_gamma_d",
                "robust_ratio",
            )
        }
    ),
    "level": PR["analysis"]["level"],
}
P_VERDICTS = verdict_paths("precision")


rule precision_figures:
    input:
        runs=rules.precision_aggregate.output.runs,
        fits=rules.precision_fit.output.parquet,
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
