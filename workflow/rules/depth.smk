# Depth versus width at a fixed parameter budget (Petty et al. 2024): budget x depth x seed,
# each model pretrained on a bracket language and then fine-tuned on SCAN.
from functools import partial

import papergrid.depth.grid as depth_grid

DP = config["depth"]
depth_grid.check_block(DP)
DP_UNIT = "results/depth/runs/b{budget}_s{seed}"
DP_RUN = f"{DP_UNIT}/L{{depth}}"
DP_ALL = dict(
    budget=DP["grid"]["budget"], depth=DP["grid"]["depth"], seed=DP["grid"]["seed"]
)
DP_JOB = partial(depth_grid.seed_runs, DP)
DP_DEPTHS = sorted(DP["grid"]["depth"])  # the order of a job's runs
DP_UNITS = expand(DP_UNIT, budget=DP_ALL["budget"], seed=DP_ALL["seed"])


wildcard_constraints:
    budget=r"\d+",
    depth=r"\d+",
    seed=r"\d+",


# One job per (budget, seed) trains every depth: each model's fine-tuning starts from the
# checkpoint matched to a pretraining loss every depth of the seed reached.
rule depth_train:
    output:
        unit=directory(DP_UNIT),
    log:
        logs("depth", "train/b{budget}_s{seed}"),
    benchmark:
        bench("depth", "train/b{budget}_s{seed}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        # SCAN sequences are at most 59 tokens; the deepest model sizes the request
        mem_mb=lambda wc, threads, attempt: priced_request(
            job_runs(DP_JOB, wc.budget, wc.seed),
            depth_grid.equivalent_steps,
            59,
            threads,
            attempt,
        )["mem_mb"],
        runtime=lambda wc, threads, attempt: priced_request(
            job_runs(DP_JOB, wc.budget, wc.seed),
            depth_grid.equivalent_steps,
            59,
            threads,
            attempt,
        )["runtime"],
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        runs=lambda wc: job_runs(DP_JOB, wc.budget, wc.seed),
        files=lambda wc: cell_files(DP_RUN, wc, depth=DP_DEPTHS),
        device=config["device"],
        code=code("depth_train.py", "papergrid.depth.jobs"),
    script:
        "../scripts/depth_train.py"


rule depth_aggregate:
    input:
        units=DP_UNITS,
    output:
        runs="results/depth/runs.parquet",
        curves="results/depth/curves.parquet",
    log:
        logs("depth", "aggregate"),
    benchmark:
        bench("depth", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        schema="papergrid.depth.grid",
        summaries=expand(f"{DP_RUN}/summary.parquet", **DP_ALL),
        curves=expand(f"{DP_RUN}/curve.parquet", **DP_ALL),
        learned="papergrid.depth.learned" if config["learned_gate"] else "",
        code=code(
            "aggregate.py",
            "papergrid.aggregate",
            "papergrid.depth.grid",
            "papergrid.depth.learned",
        ),
    script:
        "../scripts/aggregate.py"


rule depth_fit:
    input:
        runs=rules.depth_aggregate.output.runs,
    output:
        parquet="results/depth/fits.parquet",
        md="results/depth/fits.md",
    log:
        logs("depth", "fit"),
    benchmark:
        bench("depth", "fit")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_boot=DP["analysis"]["n_boot"],
        level=DP["analysis"]["level"],
        code=code("depth_fit.py", "papergrid.depth.analysis"),
    script:
        "../scripts/depth_fit.py"


CLAIM_SETS["depth"] = {
    "analysis": "papergrid.depth.claims",
    "inputs": {"runs": rules.depth_aggregate.output.runs},
    "settings": canonical(
        {
            key: DP["analysis"][key]
            for key in (
                "trend_depths",
                "compare_depth",
                "saturation_depth",
                "gain_share",
                "sesoi_trend",
                "sesoi_lm",
                "sesoi_slope",
            )
        }
    ),
    "level": DP["analysis"]["level"],
    "seeds": [["grid", "seed"]],
}
DP_VERDICTS = verdict_paths("depth")


rule depth_figures:
    input:
        runs=rules.depth_aggregate.output.runs,
        fits=rules.depth_fit.output.parquet,
    output:
        accuracy=report(
            "results/depth/figures/accuracy.png",
            caption="../report/depth_accuracy.rst",
            category="depth",
        ),
        loss=report(
            "results/depth/figures/loss.png",
            caption="../report/depth_loss.rst",
            category="depth",
        ),
        matched=report(
            "results/depth/figures/matched_loss.png",
            caption="../report/depth_matched.rst",
            category="depth",
        ),
        latency=report(
            "results/depth/figures/latency.png",
            caption="../report/depth_latency.rst",
            category="depth",
        ),
    log:
        logs("depth", "figures"),
    benchmark:
        bench("depth", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        code=code("depth_figures.py", "papergrid.depth.plots"),
    script:
        "../scripts/depth_figures.py"


REPORT_SECTIONS.append(
    {
        "name": "depth",
        "title": "Depth versus width at a fixed parameter budget (Petty et al. 2024)",
        "claims": DP_VERDICTS["claims"],
        "calibration": DP_VERDICTS["calibration"],
        "tables": [
            ("Calibration", DP_VERDICTS["calibration_md"]),
            ("Fits", str(rules.depth_fit.output.md)),
        ],
        "figures": [str(f) for f in rules.depth_figures.output],
    }
)


rule depth:
    input:
        DP_VERDICTS.values(),
        rules.depth_figures.output,
    localrule: True
