"""Assemble results/REPORT.md from each experiment's claims, calibration, tables and figures.

A section is ``{"name", "title", "claims": path, "calibration": path,
"tables": [(heading, path), ...], "figures": [paths]}``; ``claims`` and ``calibration``
are the Parquet files of the claims and calibration rules, the tables Markdown files.
"""

from __future__ import annotations

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


def claims_section(claims: pd.DataFrame, calibration: pd.DataFrame | None) -> str:
    cal = calibration.set_index("claim_id") if calibration is not None else None
    fam = sorted(set(zip(claims["family"], claims["family_size"], strict=True)))
    lines = [
        "Holm family: " + ", ".join(f"`{f}` ({m} claims)" for f, m in fam) + ".",
        "",
        "| claim | estimate [95% CI] | rule | n | verdict | Holm | power | reading |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in claims.itertuples():
        power = stability = math.nan
        if cal is not None and c.claim_id in cal.index:
            power = float(cal.loc[c.claim_id, "power"])
            stability = float(cal.loc[c.claim_id, "stability"])
        lines.append(
            f"| {c.statement} | {_fmt(c.estimate)} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}] | "
            f"{band(c)} | {c.n} {c.unit} | **{c.verdict}** | {c.verdict_holm} | "
            f"{_fmt(power)} | {reading(c.verdict, power, stability)} |"
        )
    details = [f"- `{c.claim_id}`: {c.detail}" for c in claims.itertuples() if c.detail]
    return "\n".join(lines + ([""] + details if details else [])) + "\n"


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
