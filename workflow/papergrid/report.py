"""Assemble results/REPORT.md from the Markdown tables and figures each experiment wrote."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from papergrid.io import write_text


def render_report(sections: Sequence[Mapping], out_dir: str | os.PathLike) -> str:
    parts = [
        "# papergrid report",
        "",
        "Every verdict below is computed from the runs by the claims rules: *supported* when the "
        "whole confidence interval lies on the claimed side of the threshold, *not supported* "
        "when it lies wholly on the other side, *inconclusive* otherwise.",
    ]
    for s in sections:
        parts += [
            "",
            f"## {s['title']}",
            "",
            "### Claims",
            "",
            Path(s["claims"]).read_text(),
            "### Fits",
            "",
            Path(s["fits"]).read_text(),
            "### Figures",
            "",
        ]
        for fig in s["figures"]:
            rel = os.path.relpath(fig, out_dir)
            parts.append(f"![{Path(fig).stem}]({rel})")
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write_report(sections: Sequence[Mapping], out: str | os.PathLike) -> None:
    write_text(render_report(sections, Path(out).parent), out)
