# "Weights don't move" (Jesus et al. 2021): width x optimizer arm x seed.
from functools import partial

import papergrid.weights.grid as weights_grid

W = config["weights"]
W_CELL = "results/weights/runs/w{width}_{optimizer}"
W_RUN = f"{W_CELL}/s{{seed}}"
W_FILES = (("curve", "parquet"), ("summary", "parquet"), ("matrices", "npz"))
# in a fixed order: the aggregate's file list is a param, so config key order must not move it
W_ALL = {key: W["grid"][key] for key in ("width", "optimizer", "seed")}


wildcard_constraints:
    width=r"\d+",
    optimizer=r"[a-z][a-z0-9_]*",
    seed=r"\d+",


W_SHOWN = weights_grid.shown_cells(W)
W_JOB = partial(weights_grid.cell_runs, W)


rule weights_data:
    input:
        weights_grid.idx_files(W),
    output:
        data="results/weights/data.npz",
    log:
        logs("weights", "data"),
    benchmark:
        bench("weights", "data")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        data=canonical(W["data"]),
        code=code("weights_data.py", "papergrid.weights.data"),
    script:
        "../scripts/weights_data.py"


# Adam's base rate, chosen on a validation split at one width; arms with lr "tuned" read it.
rule weights_tune:
    input:
        data=rules.weights_data.output.data,
    output:
        json="results/weights/tune.json",
        md="results/weights/tune.md",
    log:
        logs("weights", "tune"),
    benchmark:
        bench("weights", "tune")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        run=weights_grid.tune_run(W),
        lrs=W["tune"]["lrs"],
        seeds=W["tune"]["seeds"],
        val_fraction=W["tune"]["val_fraction"],
        split_seed=W["data"]["split_seed"],
        device=config["device"],
        code=code("weights_tune.py", "papergrid.weights.jobs"),
    script:
        "../scripts/weights_tune.py"


# One job trains every seed of a (width, arm) cell: each process pays about 5 s of
# torch imports and script start-up on a 2-core machine, more than a small run's training
# (docs/weights.md, "Cost").
rule weights_train:
    input:
        data=rules.weights_data.output.data,
        tune=lambda wc: (
            rules.weights_tune.output.json
            if weights_grid.tuned(W, wc.optimizer)
            else []
        ),
    output:
        cell=directory(W_CELL),
    log:
        logs("weights", "train/w{width}_{optimizer}"),
    benchmark:
        bench("weights", "train/w{width}_{optimizer}")
    retries: 1
    conda:
        ENV
    threads: 1
    resources:
        # two width x width matrices and Adam state, in float32, plus torch itself
        mem_mb=lambda wc, attempt: mem_request(
            (1500 + int(wc.width) ** 2 * 64 // 2**20) * attempt,
            f"weights.grid.width {wc.width}",
            attempt,
        ),
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        runs=lambda wc: job_runs(W_JOB, wc.width, wc.optimizer),
        files=lambda wc: cell_files(W_RUN, wc, W_FILES, seed=W["grid"]["seed"]),
        device=config["device"],
        code=code("weights_train.py", "papergrid.weights.jobs"),
    script:
        "../scripts/weights_train.py"


rule weights_aggregate:
    input:
        cells=expand(W_CELL, width=W["grid"]["width"], optimizer=W["grid"]["optimizer"]),
    output:
        runs="results/weights/runs.parquet",
        curves="results/weights/curves.parquet",
    log:
        logs("weights", "aggregate"),
    benchmark:
        bench("weights", "aggregate")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        schema="papergrid.weights.schema",
        summaries=expand(f"{W_RUN}/summary.parquet", **W_ALL),
        curves=expand(f"{W_RUN}/curve.parquet", **W_ALL),
        learned="papergrid.weights.learned" if config["learned_gate"] else "",
        code=code(
            "aggregate.py",
            "papergrid.aggregate",
            "papergrid.weights.schema",
            "papergrid.weights.learned",
        ),
    script:
        "../scripts/aggregate.py"


# Each run read at the first epoch it reaches the matched training loss, and at its end.
rule weights_readings:
    input:
        runs=rules.weights_aggregate.output.runs,
        curves=rules.weights_aggregate.output.curves,
    output:
        parquet="results/weights/readings.parquet",
        md="results/weights/readings.md",
    log:
        logs("weights", "readings"),
    benchmark:
        bench("weights", "readings")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        match_loss=W["analysis"]["match_loss"],
        level=W["analysis"]["level"],
        code=code("weights_readings.py", "papergrid.weights.analysis"),
    script:
        "../scripts/weights_readings.py"


rule weights_fit:
    input:
        readings=rules.weights_readings.output.parquet,
    output:
        parquet="results/weights/fits.parquet",
        md="results/weights/fits.md",
    log:
        logs("weights", "fit"),
    benchmark:
        bench("weights", "fit")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_boot=W["analysis"]["n_boot"],
        level=W["analysis"]["level"],
        code=code("weights_fit.py", "papergrid.weights.analysis"),
    script:
        "../scripts/weights_fit.py"


CLAIM_SETS["weights"] = {
    "analysis": "papergrid.weights.claims",
    "inputs": {"readings": rules.weights_readings.output.parquet},
    "settings": canonical(
        {
            "auc_threshold": W["analysis"]["auc_threshold"],
            "sesoi_exponent": W["analysis"]["sesoi_exponent"],
            "decay_reference": W["analysis"]["decay_reference"],
        }
    ),
    "level": W["analysis"]["level"],
    "seeds": [["grid", "seed"]],
}
W_VERDICTS = verdict_paths("weights")


rule weights_figures:
    input:
        readings=rules.weights_readings.output.parquet,
        curves=rules.weights_aggregate.output.curves,
        fits=rules.weights_fit.output.parquet,
        cells=[W_CELL.format(width=w, optimizer=opt) for opt, w in W_SHOWN],
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
    log:
        logs("weights", "figures"),
    benchmark:
        bench("weights", "figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        matrix_keys=W_SHOWN,
        matrices=[
            f"{W_RUN}/matrices.npz".format(
                width=w, optimizer=opt, seed=W["grid"]["seed"][0]
            )
            for opt, w in W_SHOWN
        ],
        auc_threshold=W["analysis"]["auc_threshold"],
        code=code("weights_figures.py", "papergrid.weights.plots"),
    script:
        "../scripts/weights_figures.py"


REPORT_SECTIONS.append(
    {
        "name": "weights",
        "title": "Weights don't move (Jesus et al. 2021)",
        "claims": W_VERDICTS["claims"],
        "calibration": W_VERDICTS["calibration"],
        "tables": [
            ("Calibration", W_VERDICTS["calibration_md"]),
            ("Readings at the matched loss", str(rules.weights_readings.output.md)),
            ("Tuning", str(rules.weights_tune.output.md)),
            ("Fits", str(rules.weights_fit.output.md)),
        ],
        "figures": [str(f) for f in rules.weights_figures.output],
    }
)


rule weights:
    input:
        W_VERDICTS.values(),
        rules.weights_readings.output,
        rules.weights_fit.output,
        rules.weights_figures.output,
    localrule: True
