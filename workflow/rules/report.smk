# REPORT.md gathers every experiment's claims, fit tables and figures.


report: "../report/workflow.rst"


rule report:
    input:
        [s["claims"] for s in REPORT_SECTIONS],
        [s["fits"] for s in REPORT_SECTIONS],
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
