# Claims, their calibration by simulation and the gated verdicts: one rule each, for every
# experiment. An experiment registers in CLAIM_SETS its analysis module (which provides
# claim_data and claim_specs), the tables its claims read, their settings, the confidence
# level and where its seed lists are (the power planner scales them).
import sys

from papergrid.planner import grid_hash, seed_count

# Said at plan time, before any job: a claim needs two or more units for an interval.
for _exp, _set in CLAIM_SETS.items():
    _n = seed_count(config[_exp], _set["seeds"])
    if _n < 2:
        print(
            f"papergrid: {_exp}: {_n} seed(s) in "
            + ", ".join(".".join([_exp, *p]) for p in _set["seeds"])
            + ": claims whose units are seeds cannot be decided (an interval needs 2 or more);"
            " the runs, claims and report are still built",
            file=sys.stderr,
        )


wildcard_constraints:
    experiment="|".join(CLAIM_SETS),


rule claims:
    input:
        unpack(lambda wc: CLAIM_SETS[wc.experiment]["inputs"]),
    output:
        parquet=verdict_paths("{experiment}")["raw"],
    log:
        logs("{experiment}", "claims"),
    benchmark:
        bench("{experiment}", "claims")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        analysis=lambda wc: CLAIM_SETS[wc.experiment]["analysis"],
        settings=lambda wc: CLAIM_SETS[wc.experiment]["settings"],
        level=lambda wc: CLAIM_SETS[wc.experiment]["level"],
        code=lambda wc: code(
            "claims.py", "papergrid.claims", CLAIM_SETS[wc.experiment]["analysis"]
        ),
    script:
        "../scripts/claims.py"


# The gate that reads the calibration, and the planner's line for each open claim; the
# experiment's benchmark files price the planner's seeds (read when the job runs, after
# every training job of the experiment).
rule verdicts:
    input:
        raw=rules.claims.output.parquet,
        calibration=verdict_paths("{experiment}")["calibration"],
        rates=verdict_paths("{experiment}")["rates"],
    output:
        parquet=verdict_paths("{experiment}")["claims"],
        md=verdict_paths("{experiment}")["claims_md"],
        plan=verdict_paths("{experiment}")["plan"],
    log:
        logs("{experiment}", "verdicts"),
    benchmark:
        bench("{experiment}", "verdicts")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        level=lambda wc: CLAIM_SETS[wc.experiment]["level"],
        seeds=lambda wc: seed_count(
            config[wc.experiment], CLAIM_SETS[wc.experiment]["seeds"]
        ),
        grid=lambda wc: grid_hash(
            config[wc.experiment], CLAIM_SETS[wc.experiment]["seeds"]
        ),
        benchmarks=lambda wc: f"results/benchmarks/{wc.experiment}",
        code=code("verdicts.py", "papergrid.claims", "papergrid.planner"),
    script:
        "../scripts/verdicts.py"


rule calibration:
    input:
        unpack(lambda wc: CLAIM_SETS[wc.experiment]["inputs"]),
        claims=verdict_paths("{experiment}")["raw"],
    output:
        parquet=verdict_paths("{experiment}")["calibration"],
        md=verdict_paths("{experiment}")["calibration_md"],
        rates=verdict_paths("{experiment}")["rates"],
    log:
        logs("{experiment}", "calibration"),
    benchmark:
        bench("{experiment}", "calibration")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        analysis=lambda wc: CLAIM_SETS[wc.experiment]["analysis"],
        settings=lambda wc: CLAIM_SETS[wc.experiment]["settings"],
        level=lambda wc: CLAIM_SETS[wc.experiment]["level"],
        calibration=canonical(config["calibration"]),
        code=lambda wc: code(
            "calibration.py",
            "papergrid.calibration",
            CLAIM_SETS[wc.experiment]["analysis"],
        ),
    script:
        "../scripts/calibration.py"


# Snakemake's HTML report shows only files marked report(): the claims table of each
# experiment goes in as a page of its own, beside that experiment's figures.
rule claims_page:
    input:
        claims=rules.verdicts.output.parquet,
        calibration=rules.calibration.output.parquet,
    output:
        report(
            verdict_paths("{experiment}")["page"],
            caption="../report/claims_page.rst",
            category="{experiment}",
            labels={"page": "claims and verdicts"},
        ),
    log:
        logs("{experiment}", "claims_page"),
    benchmark:
        bench("{experiment}", "claims_page")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        title=lambda wc: next(
            s["title"] for s in REPORT_SECTIONS if s["name"] == wc.experiment
        ),
        code=code("claims_page.py", "papergrid.report"),
    script:
        "../scripts/claims_page.py"


# What the config's grid can decide, before any training: `snakemake power` (with the
# config to try, `--configfile bigger.yaml`). It reads the last run's ladders in results/
# (or the pilot figures shipped with the package) and no training output, so it builds
# nothing else; their modification times are params, so a newer run replans.
rule power:
    output:
        md="results/power.md",
        json="results/power.json",
    log:
        logs("power", "power"),
    benchmark:
        bench("power", "power")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        blocks={e: canonical(config[e]) for e in CLAIM_SETS},
        seeds={e: s["seeds"] for e, s in CLAIM_SETS.items()},
        stamps={
            e: [
                os.path.getmtime(p) if os.path.exists(p) else 0
                for p in (verdict_paths(e)["plan"], verdict_paths(e)["rates"])
            ]
            for e in CLAIM_SETS
        },
        code=code("power.py", "papergrid.planner"),
    script:
        "../scripts/power.py"
