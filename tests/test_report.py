import math
from html.parser import HTMLParser

import pandas as pd

from papergrid.report import claims_html, claims_section, write_claims_page


def claims_frame() -> pd.DataFrame:
    row = dict(
        experiment="demo",
        statistic="slope",
        threshold=0.0,
        threshold_high=math.nan,
        sesoi=0.0,
        unit="seeds",
        method="t",
        p_support=0.01,
        p_against=0.9,
        family="demo",
        family_size=2,
        detail="",
        gate="",
        gate_reason="",
        runs_read=15,
        runs_not_learned=0,
        plan="",
    )
    return pd.DataFrame(
        [
            row
            | dict(
                claim_id="a",
                statement="wider is <better> & faster",
                estimate=-0.5,
                ci_low=-0.7,
                ci_high=-0.3,
                side="below",
                n=5,
                verdict="supported",
                verdict_holm="supported",
                verdict_raw="supported",
                verdict_holm_raw="supported",
            ),
            row
            | dict(
                claim_id="b",
                statement="depth saturates",
                estimate=0.1,
                ci_low=-0.2,
                ci_high=0.4,
                side="above",
                n=3,
                verdict="inconclusive",
                verdict_holm="inconclusive",
                verdict_raw="inconclusive",
                verdict_holm_raw="inconclusive",
                detail="only 3 seeds",
                plan="24 seeds at the paper's effect (8x; power 0.83)",
            ),
        ]
    )


def calibration_frame() -> pd.DataFrame:
    return pd.DataFrame({"claim_id": ["a", "b"], "power": [0.9, 0.12], "stability": [0.95, 0.5]})


class Cells(HTMLParser):
    """The text of every table cell, row by row."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_the_html_page_holds_every_claim_with_its_power_and_reading():
    parser = Cells()
    parser.feed(claims_html("Demo <title>", claims_frame(), calibration_frame()))
    header, *rows = parser.rows
    assert header == [
        "claim",
        "estimate [95% CI]",
        "rule",
        "n",
        "verdict",
        "Holm",
        "raw / Holm",
        "power",
        "reading",
    ]
    assert rows[0][:6] == [
        "wider is <better> & faster",  # escaped in the page, text again once parsed
        "-0.5 [-0.7, -0.3]",
        "below 0",
        "5 seeds",
        "supported",
        "supported",
    ]
    assert rows[0][6:] == ["supported / supported", "0.9", "stable"]
    assert rows[1][4] == "inconclusive"
    assert rows[1][8] == (
        "this grid cannot answer (power 0.12 at the paper's effect); would decide it: "
        "24 seeds at the paper's effect (8x; power 0.83)"
    )


def test_the_page_and_the_markdown_section_agree():
    claims, cal = claims_frame(), calibration_frame()
    page = claims_html("Demo", claims, cal)
    section = claims_section(claims, cal)
    assert "&lt;better&gt; &amp; faster" in page and "<better>" not in page
    assert "only 3 seeds" in page and "`b`: only 3 seeds" in section
    assert "| wider is <better> & faster | -0.5 [-0.7, -0.3] | below 0 | 5 seeds |" in section
    assert "**supported**" in section and "power 0.12" in section


def test_a_claim_without_calibration_reads_not_calibrated(tmp_path):
    claims = claims_frame()
    claims.to_parquet(tmp_path / "claims.parquet")
    calibration_frame().iloc[:1].to_parquet(tmp_path / "calibration.parquet")
    write_claims_page(
        "Demo", tmp_path / "claims.parquet", tmp_path / "calibration.parquet", tmp_path / "p.html"
    )
    parser = Cells()
    parser.feed((tmp_path / "p.html").read_text())
    assert parser.rows[2][7] == "n/a"
    assert parser.rows[2][8].startswith("not calibrated")


def test_findings_list_only_gated_holm_decided_stable_verdicts(tmp_path):
    from papergrid.report import findings_html, findings_section

    claims = claims_frame()
    gated = claims.iloc[:1].assign(
        claim_id="g",
        statement="an identity",
        verdict="inconclusive",
        verdict_holm="inconclusive",
        gate="identity",
        gate_reason="identity: no spread over its 5 seeds",
    )
    claims = pd.concat([claims, gated], ignore_index=True)
    claims.to_parquet(tmp_path / "claims.parquet")
    cal = pd.concat(
        [calibration_frame(), pd.DataFrame({"claim_id": ["g"], "power": [0.9], "stability": [1.0]})]
    )
    cal.to_parquet(tmp_path / "cal.parquet")
    sections = [
        {
            "name": "demo",
            "claims": tmp_path / "claims.parquet",
            "calibration": tmp_path / "cal.parquet",
        }
    ]
    md = findings_section(sections)
    found, rest = md.split("Verdicts per experiment")
    assert (
        "- supported: demo: wider is <better> & faster (-0.5 [-0.7, -0.3]; stability 0.95)" in found
    )
    assert "identity" not in found and "depth saturates" not in found
    assert "| demo | 3 | 1 | 0 | 2 | 1 / 0 / 2 | 1 |" in rest
    assert "- demo: an identity (-0.5 [-0.7, -0.3]): identity: no spread over its 5 seeds" in rest
    assert "would decide it: 24 seeds at the paper's effect (8x; power 0.83)" in rest
    page = findings_html(sections)
    assert "wider is &lt;better&gt; &amp; faster" in page and "<th>decided raw, gated</th>" in page


def test_an_unstable_or_pre_holm_verdict_is_not_a_finding(tmp_path):
    from papergrid.report import findings_section

    claims = claims_frame().iloc[:1].assign(verdict_holm="inconclusive")
    claims.to_parquet(tmp_path / "c.parquet")
    calibration_frame().to_parquet(tmp_path / "k.parquet")
    md = findings_section(
        [{"name": "d", "claims": tmp_path / "c.parquet", "calibration": tmp_path / "k.parquet"}]
    )
    assert "- none at this scale" in md and "supported before Holm's adjustment only" in md
    claims = claims_frame().iloc[:1]
    claims.to_parquet(tmp_path / "c.parquet")
    calibration_frame().assign(stability=[0.6, 0.5]).to_parquet(tmp_path / "k.parquet")
    md = findings_section(
        [{"name": "d", "claims": tmp_path / "c.parquet", "calibration": tmp_path / "k.parquet"}]
    )
    assert (
        "- none at this scale" in md and "unstable (a rerun repeats it with probability 0.6)" in md
    )
