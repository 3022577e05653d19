# REPORT.md gathers every experiment's claims, fit tables and figures.


report: "../report/workflow.rst"


rule report:
    input:
        [s[k] for s in REPORT_SECTIONS for k in ("claims", "calibration") if k in s],
        [path for s in REPORT_SECTIONS for _, path in s["tables"]],
        [f for s in REPORT_SECTIONS for f in s["figures"]],
    output:
        "results/REPORT.md",
    log:
        logs("report", "report"),
    benchmark:
        bench("report", "report")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        sections=REPORT_SECTIONS,
        code=code("report.py", "papergrid.report"),
    script:
        "../scripts/report.py"
