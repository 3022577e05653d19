"""The README's commands, run with an environment installed exactly as the README installs
it (`pip install -e .`, no test extras: pytest brings packages the workflow may forget to
declare, such as pygments for the report). The install and run are opt-in, `pytest -m
readme` (.ci/run runs it)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, copy_workflow
from .test_report import Cells


def quick_start() -> list[str]:
    """The README's quick-start install line (the first fenced command with `pip install`)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    line = next(x for x in block.splitlines() if "pip install" in x and "[test]" not in x)
    return [part.strip() for part in line.split("&&")]


def test_the_quick_start_installs_with_no_extras():
    steps = quick_start()
    assert steps[0] == "python3 -m venv .venv"
    assert steps[1] == ".venv/bin/pip install -e ."
    assert steps[2].startswith(".venv/bin/snakemake --cores")


@pytest.mark.readme
def test_the_readme_commands_run_from_a_readme_install(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "-e", str(ROOT)], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stdout + install.stderr
    (tmp_path / "wf").mkdir()
    wf = copy_workflow(tmp_path / "wf")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    snakemake = str(venv / "bin/snakemake")
    for args in (
        ["--cores", "2"],  # the README's run, on the smoke config
        ["--report", "results/report.html"],  # the README's report command
        ["--cores", "1", "power"],  # the README's power planner
    ):
        cmd = [snakemake, "--configfile", "smoke.yaml", *args]
        proc = subprocess.run(cmd, cwd=wf.path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    html = (wf.path / "results/report.html").read_text(errors="replace")
    pages = re.findall(
        r"data:text/html;charset=[^;]+;filename=claims\.html;base64,([\w+/=]+)", html
    )
    assert len(pages) == 7  # one claims page per experiment
    for page in pages:
        cells = Cells()
        cells.feed(base64.b64decode(page).decode())
        assert cells.rows[0][4] == "verdict" and len(cells.rows) > 1
    assert Path(wf.path / "results/REPORT.md").stat().st_size > 10_000
    assert "## Findings" in Path(wf.path / "results/REPORT.md").read_text()
    assert "(power planner)" in Path(wf.path / "results/power.md").read_text()
