# REPORT.md gathers every experiment's claims, fit tables and figures; findings.html opens
# the HTML report with the findings and the verdict counts.


report: "../report/workflow.rst"


rule report:
    input:
        [s[k] for s in REPORT_SECTIONS for k in ("claims", "calibration") if k in s],
        [path for s in REPORT_SECTIONS for _, path in s["tables"]],
        [f for s in REPORT_SECTIONS for f in s["figures"]],
    output:
        md="results/REPORT.md",
        findings=report(
            "results/findings.html",
            caption="../report/findings.rst",
            category="findings",
            labels={"page": "findings and verdict counts"},
        ),
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
