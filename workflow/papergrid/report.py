"""Assemble results/REPORT.md from each experiment's claims, calibration, tables and figures.

A section is ``{"name", "title", "claims": path, "calibration": path,
"tables": [(heading, path), ...], "figures": [paths]}``; ``claims`` and ``calibration``
are the Parquet files of the claims and calibration rules, the tables Markdown files.
:func:`write_claims_page` writes the same claims table as one HTML page per experiment,
for Snakemake's HTML report.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from papergrid.calibration import reading
from papergrid.claims import band
from papergrid.io import write_text

INTRO = (
    "Every verdict below is computed from the runs by the claims rules: *supported* when "
    "the whole 95% interval lies on the claimed side of the threshold (inside the band), "
    "*not supported* when it lies wholly on the other side, *inconclusive* otherwise. "
    "Thresholds include each claim's smallest effect of interest. *Holm* repeats the verdict "
    "with p-values Holm-adjusted within the experiment's family of claims. *Power* is the "
    "rate of 'supported' at the paper's effect in simulated reruns of this grid, and the "
    "reading says whether an inconclusive verdict means that the grid cannot answer or that "
    "the data sit on the line, and whether a rerun with other seeds would likely repeat a "
    "decided verdict (calibration tables per experiment)."
)


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def claim_rows(claims: pd.DataFrame, calibration: pd.DataFrame | None) -> list[dict[str, str]]:
    """One row of display strings per claim, its power and reading from the calibration."""
    cal = calibration.set_index("claim_id") if calibration is not None else None
    rows = []
    for c in claims.itertuples():
        power = stability = math.nan
        if cal is not None and c.claim_id in cal.index:
            power = float(cal.loc[c.claim_id, "power"])
            stability = float(cal.loc[c.claim_id, "stability"])
        rows.append(
            {
                "claim": c.statement,
                "estimate [95% CI]": f"{_fmt(c.estimate)} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
                "rule": band(c),
                "n": f"{c.n} {c.unit}",
                "verdict": c.verdict,
                "Holm": c.verdict_holm,
                "power": _fmt(power),
                "reading": reading(c.verdict, power, stability),
            }
        )
    return rows


def _families(claims: pd.DataFrame) -> list[tuple[str, int]]:
    return sorted(set(zip(claims["family"], claims["family_size"], strict=True)))


def claims_section(claims: pd.DataFrame, calibration: pd.DataFrame | None) -> str:
    rows = claim_rows(claims, calibration)
    lines = [
        "Holm family: " + ", ".join(f"`{f}` ({m} claims)" for f, m in _families(claims)) + ".",
        "",
        "| claim | estimate [95% CI] | rule | n | verdict | Holm | power | reading |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"**{v}**" if k == "verdict" else v for k, v in r.items()]
        lines.append("| " + " | ".join(cells) + " |")
    details = [f"- `{c.claim_id}`: {c.detail}" for c in claims.itertuples() if c.detail]
    return "\n".join(lines + ([""] + details if details else [])) + "\n"


VERDICT_COLOURS = {"supported": "#d8f0d8", "not supported": "#f6d6d6", "inconclusive": "#eeeeee"}


def claims_html(title: str, claims: pd.DataFrame, calibration: pd.DataFrame | None) -> str:
    """A standalone page of one experiment's claims, for Snakemake's HTML report (which
    shows figures and files but not REPORT.md)."""
    esc = html.escape
    rows = claim_rows(claims, calibration)
    head = "".join(f"<th>{esc(k)}</th>" for k in (rows[0] if rows else {}))
    body = []
    for r in rows:
        colour = VERDICT_COLOURS.get(r["verdict"], "#ffffff")
        cells = "".join(
            f'<td style="background:{colour}"><b>{esc(v)}</b></td>'
            if k == "verdict"
            else f"<td>{esc(v)}</td>"
            for k, v in r.items()
        )
        body.append(f"<tr>{cells}</tr>")
    families = ", ".join(f"<code>{esc(f)}</code> ({m} claims)" for f, m in _families(claims))
    details = "".join(
        f"<li><code>{esc(c.claim_id)}</code>: {esc(c.detail)}</li>"
        for c in claims.itertuples()
        if c.detail
    )
    style = (
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:4px 6px;vertical-align:top;font-size:90%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}: claims"
        f"</title><style>{style}</style></head><body><h1>{esc(title)}</h1>"
        f"<p>{esc(INTRO)}</p><p>Holm family: {families}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (f"<ul>{details}</ul>" if details else "")
        + "</body></html>\n"
    )


def write_claims_page(
    title: str, claims_path: str, calibration_path: str, out: str | os.PathLike
) -> None:
    claims = pd.read_parquet(claims_path)
    write_text(claims_html(title, claims, pd.read_parquet(calibration_path)), out)


def render_report(sections: Sequence[Mapping], out_dir: str | os.PathLike) -> str:
    parts = ["# papergrid report", "", INTRO]
    for s in sections:
        parts += ["", f"## {s['title']}", ""]
        if s.get("claims"):
            cal = pd.read_parquet(s["calibration"]) if s.get("calibration") else None
            parts += ["### Claims", "", claims_section(pd.read_parquet(s["claims"]), cal)]
        for heading, path in s["tables"]:
            parts += [f"### {heading}", "", Path(path).read_text()]
        if s["figures"]:
            parts += ["### Figures", ""]
        for fig in s["figures"]:
            parts += [f"![{Path(fig).stem}]({os.path.relpath(fig, out_dir)})", ""]
    return "\n".join(parts).rstrip() + "\n"


def write_report(sections: Sequence[Mapping], out: str | os.PathLike) -> None:
    write_text(render_report(sections, Path(out).parent), out)
