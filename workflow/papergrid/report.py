"""Assemble results/REPORT.md from the Markdown tables and figures each experiment wrote.

A section is ``{"name", "title", "tables": [(heading, path), ...], "figures": [paths]}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from papergrid.io import write_text


def render_report(sections: Sequence[Mapping], out_dir: str | os.PathLike) -> str:
    parts = [
        "# papergrid report",
        "",
        "Every verdict below is computed from the runs by the claims rules: *supported* when "
        "the whole confidence interval lies on the claimed side of the threshold, *not "
        "supported* when it lies wholly on the other side, *inconclusive* otherwise.",
    ]
    for s in sections:
        parts += ["", f"## {s['title']}", ""]
        for heading, path in s["tables"]:
            parts += [f"### {heading}", "", Path(path).read_text()]
        if s["figures"]:
            parts += ["### Figures", ""]
        for fig in s["figures"]:
            parts += [f"![{Path(fig).stem}]({os.path.relpath(fig, out_dir)})", ""]
    return "\n".join(parts).rstrip() + "\n"


def write_report(sections: Sequence[Mapping], out: str | os.PathLike) -> None:
    write_text(render_report(sections, Path(out).parent), out)
