"""Write results/REPORT.md and the findings page of the HTML report.

Inputs: each experiment's claims and calibration (Parquet), its Markdown tables and
figures, listed in params.sections. Outputs: md (REPORT.md), findings (HTML).
"""

from papergrid.logs import setup_logging
from papergrid.report import write_report

setup_logging(snakemake.log[0])
write_report(snakemake.params.sections, snakemake.output.md, snakemake.output.findings)
