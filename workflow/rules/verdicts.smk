# Claims and their calibration by simulation: one rule each, for every experiment. An
# experiment registers in CLAIM_SETS its analysis module (which provides claim_data and
# claim_specs), the tables its claims read, their settings and the confidence level.


wildcard_constraints:
    experiment="|".join(CLAIM_SETS),


rule claims:
    input:
        unpack(lambda wc: CLAIM_SETS[wc.experiment]["inputs"]),
    output:
        parquet=verdict_paths("{experiment}")["claims"],
        md=verdict_paths("{experiment}")["claims_md"],
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


rule calibration:
    input:
        unpack(lambda wc: CLAIM_SETS[wc.experiment]["inputs"]),
        claims=rules.claims.output.parquet,
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
        claims=rules.claims.output.parquet,
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
