"""Write one experiment's claims and verdicts as an HTML page for Snakemake's report.

Inputs: claims, calibration (Parquet). Output: the page. Params: title.
"""

from papergrid.logs import setup_logging
from papergrid.report import write_claims_page

setup_logging(snakemake.log[0])
write_claims_page(
    snakemake.params.title,
    snakemake.input.claims,
    snakemake.input.calibration,
    snakemake.output[0],
)
