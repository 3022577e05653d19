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

from papergrid.calibration import STABLE, reading
from papergrid.claims import INCONCLUSIVE, VERDICTS, band, shown_verdict
from papergrid.io import write_text
from papergrid.tables import markdown_table

INTRO = (
    "Every verdict below is computed from the runs by the claims rules: *supported* when "
    "the whole 95% interval lies on the claimed side of the threshold (inside the band), "
    "*not supported* when it lies wholly on the other side, *inconclusive* otherwise. "
    "Thresholds include each claim's smallest effect of interest. *Holm* repeats the verdict "
    "with p-values Holm-adjusted within the experiment's family of claims. *Power* is the "
    "rate of 'supported' at the paper's effect in simulated reruns of this grid, and the "
    "reading says whether an inconclusive verdict means that the grid cannot answer or that "
    "the data sit on the line, and whether a rerun with other seeds would likely repeat a "
    "decided verdict (calibration tables per experiment). Every verdict has passed the "
    "validity gates (identity, could not fail, lack of fit, extrapolation, not learned, "
    "control; docs/verdicts.md): one that failed a gate reads 'inconclusive (reason)', its "
    "raw verdict beside it. For each open claim the power planner says how many seeds would "
    "decide it and what they would cost."
)


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def _calibrated(cal: pd.DataFrame | None, claim_id: str) -> tuple[float, float]:
    if cal is None or claim_id not in cal.index:
        return math.nan, math.nan
    return float(cal.loc[claim_id, "power"]), float(cal.loc[claim_id, "stability"])


def claim_reading(c, power: float, stability: float) -> str:
    """The reading of a claim's final verdict, with the planner's line where it is open."""
    text = reading(c.verdict, power, stability) if not c.gate else ""
    if c.verdict_holm == INCONCLUSIVE and c.verdict != INCONCLUSIVE and not c.gate:
        text = "; ".join(filter(None, [text, "holds before Holm's adjustment only"]))
    if c.plan:
        text = "; ".join(filter(None, [text, f"would decide it: {c.plan}"]))
    return text


def claim_rows(claims: pd.DataFrame, calibration: pd.DataFrame | None) -> list[dict[str, str]]:
    """One row of display strings per claim, its power and reading from the calibration."""
    cal = calibration.set_index("claim_id") if calibration is not None else None
    rows = []
    for c in claims.itertuples():
        power, stability = _calibrated(cal, c.claim_id)
        rows.append(
            {
                "claim": c.statement,
                "estimate [95% CI]": f"{_fmt(c.estimate)} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
                "rule": band(c),
                "n": f"{c.n} {c.unit}",
                "verdict": shown_verdict(c.verdict, c.gate_reason),
                "Holm": c.verdict_holm,
                "raw / Holm": f"{c.verdict_raw} / {c.verdict_holm_raw}",
                "power": _fmt(power),
                "reading": claim_reading(c, power, stability),
            }
        )
    return rows


def is_finding(c, stability: float) -> bool:
    """A finding: passed every gate, decided after Holm, and a rerun repeats it with
    probability at least STABLE."""
    return (
        not c.gate
        and c.verdict_holm != INCONCLUSIVE
        and c.verdict_holm == c.verdict
        and math.isfinite(stability)
        and stability >= STABLE
    )


def verdict_counts(sections: Sequence[Mapping]) -> pd.DataFrame:
    """Per experiment: claims, verdicts after the gates, after Holm, and how many a gate
    turned to inconclusive (raw verdict decided, gated one not)."""
    rows = []
    for s in sections:
        if not s.get("claims"):
            continue
        c = pd.read_parquet(s["claims"])
        gated = int(((c["gate"] != "") & (c["verdict_raw"] != INCONCLUSIVE)).sum())
        rows.append(
            {
                "experiment": s["name"],
                "claims": len(c),
                "supported": int((c["verdict"] == "supported").sum()),
                "not supported": int((c["verdict"] == "not supported").sum()),
                "inconclusive": int((c["verdict"] == INCONCLUSIVE).sum()),
                "after Holm (s / n / i)": "{} / {} / {}".format(
                    *(int((c["verdict_holm"] == v).sum()) for v in VERDICTS)
                ),
                "decided raw, gated": gated,
            }
        )
    return pd.DataFrame(rows)


def _counts_markdown(counts: pd.DataFrame) -> list[str]:
    return markdown_table(counts, list(counts.columns)).splitlines() if len(counts) else []


def _findings(sections: Sequence[Mapping]) -> tuple[list[str], list[str]]:
    """(findings, open claims) as plain lines: a finding passed every gate, is decided
    after Holm and is stable; an open claim comes with its reason or planner line."""
    found, open_ = [], []
    for s in sections:
        if not s.get("claims"):
            continue
        claims = pd.read_parquet(s["claims"])
        cal = (
            pd.read_parquet(s["calibration"]).set_index("claim_id")
            if s.get("calibration")
            else None
        )
        for c in claims.itertuples():
            power, stability = _calibrated(cal, c.claim_id)
            where = f"{s['name']}: {c.statement}"
            ci = f"{_fmt(c.estimate)} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]"
            if is_finding(c, stability):
                found.append(f"{c.verdict_holm}: {where} ({ci}; stability {stability:.2f})")
                continue
            if c.gate:
                why = c.gate_reason
            elif c.verdict_holm == INCONCLUSIVE and c.verdict != INCONCLUSIVE:
                why = f"{c.verdict} before Holm's adjustment only"
            elif c.verdict_holm != INCONCLUSIVE and not math.isfinite(stability):
                why = f"{c.verdict_holm}, but its stability was not calibrated"
            elif c.verdict_holm != INCONCLUSIVE:
                why = (
                    f"{c.verdict_holm}, but unstable (a rerun repeats it with probability "
                    f"{_fmt(stability)})"
                )
            else:
                why = reading(c.verdict, power, stability)
            if c.plan:
                why += f"; would decide it: {c.plan}"
            open_.append(f"{where} ({ci}): {why}")
    return found, open_


FINDINGS_RULE = (
    "Only verdicts that pass every validity gate, hold after Holm's adjustment and are "
    f"stable (a rerun repeats them with probability at least {STABLE:g})."
)


def findings_section(sections: Sequence[Mapping]) -> str:
    """REPORT.md's opening: the findings, the verdict counts per experiment, and the open
    claims with their reason or planner line."""
    found, open_ = _findings(sections)
    lines = ["## Findings", "", FINDINGS_RULE, ""]
    lines += [f"- {f}" for f in found] or ["- none at this scale"]
    lines += ["", "Verdicts per experiment, after the validity gates:", ""]
    lines += _counts_markdown(verdict_counts(sections))
    lines += ["", "### Open at this scale", "", *(f"- {o}" for o in open_)] if open_ else []
    return "\n".join(lines) + "\n"


def findings_html(sections: Sequence[Mapping]) -> str:
    """The findings, the verdict counts and the open claims as one page, the first a
    reader of Snakemake's HTML report opens (its landing page points to it)."""
    esc = html.escape
    found, open_ = _findings(sections)
    counts = verdict_counts(sections)
    head = "".join(f"<th>{esc(str(c))}</th>" for c in counts.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in r) + "</tr>"
        for r in counts.itertuples(index=False)
    )
    items = "".join(f"<li>{esc(f)}</li>" for f in found) or "<li>none at this scale</li>"
    style = (
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:4px 6px;font-size:90%}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>papergrid findings</title>"
        f"<style>{style}</style></head><body><h1>Findings</h1><p>{esc(FINDINGS_RULE)}</p>"
        f"<ul>{items}</ul><h2>Verdicts per experiment</h2><table><thead><tr>{head}</tr>"
        f"</thead><tbody>{rows}</tbody></table><p>Each experiment's category holds its claims "
        "page: every claim with its interval, power, reading and the planner's line.</p>"
        "<h2>Open at this scale</h2><ul>"
        + "".join(f"<li>{esc(o)}</li>" for o in open_)
        + "</ul></body></html>\n"
    )


def _families(claims: pd.DataFrame) -> list[tuple[str, int]]:
    return sorted(set(zip(claims["family"], claims["family_size"], strict=True)))


def claims_section(claims: pd.DataFrame, calibration: pd.DataFrame | None) -> str:
    rows = claim_rows(claims, calibration)
    lines = [
        "Holm family: " + ", ".join(f"`{f}` ({m} claims)" for f, m in _families(claims)) + ".",
        "",
        "| claim | estimate [95% CI] | rule | n | verdict | Holm | raw / Holm | power | reading |",
        "|---|---|---|---|---|---|---|---|---|",
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
        colour = VERDICT_COLOURS.get(r["verdict"].split(" (")[0], "#ffffff")
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
    parts = ["# papergrid report", "", INTRO, "", findings_section(sections)]
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


def write_report(
    sections: Sequence[Mapping], out: str | os.PathLike, findings_out: str | os.PathLike
) -> None:
    write_text(render_report(sections, Path(out).parent), out)
    write_text(findings_html(sections), findings_out)
