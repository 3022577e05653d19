"""Fixtures that run the real snakemake command on a copy of the workflow.

The copy gets its own papergrid source on PYTHONPATH, so tests may edit package code
(to check what reruns) without touching the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "config" / "smoke.yaml"


class Workflow:
    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, "PYTHONPATH": str(path / "workflow")}

    def snakemake(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "snakemake", "--configfile", "smoke.yaml", *args]
        proc = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def planned(self, *args: str) -> dict[str, list[dict[str, str]]]:
        """Jobs a dry run would execute, per rule, with their wildcards."""
        out = self.snakemake("-n", "--quiet", "rules", *args).stdout
        if "Nothing to be done" in out or not out.strip():
            return {}
        return parse_dry_run(self.snakemake("-n", *args).stdout)


def parse_dry_run(text: str) -> dict[str, list[dict[str, str]]]:
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith(("rule ", "localrule ")) and line.rstrip().endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.setdefault(rule, []).append({})
        elif rule and stripped.startswith("wildcards:"):
            pairs = stripped[len("wildcards:") :].split(",")
            jobs[rule][-1] = dict(p.strip().split("=", 1) for p in pairs if "=" in p)
        elif not stripped:
            rule = None
    return jobs


def copy_workflow(dest: Path, config: Path = SMOKE) -> Workflow:
    for name in ("Snakefile", "config.yaml", "envs", "workflow", "profiles"):
        src = ROOT / name
        if src.is_symlink():
            os.symlink(os.readlink(src), dest / name)
        elif src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    shutil.copy2(config, dest / "smoke.yaml")
    return Workflow(dest)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Workflow:
    """The smoke config run once end to end; tests must not change its files."""
    wf = copy_workflow(tmp_path_factory.mktemp("smoke"))
    wf.snakemake("--cores", "2")
    return wf


@pytest.fixture
def fresh_copy(tmp_path, smoke_run) -> Workflow:
    """A private copy of the finished smoke run, for tests that edit code or config."""
    dest = tmp_path / "wf"
    shutil.copytree(smoke_run.path, dest, symlinks=True)
    return Workflow(dest)


OPT_IN = {
    "slurm": "starts a SLURM cluster: run with pytest -m slurm",
    "readme": "installs the package into a new venv: run with pytest -m readme",
}


def pytest_collection_modifyitems(config, items):
    """SLURM and README-install tests run only when asked for (`pytest -m slurm`), even
    when another -m expression (say "not workflow") replaces the default one."""
    expr = config.getoption("markexpr") or ""
    for marker, reason in OPT_IN.items():
        if marker in expr.replace(f"not {marker}", ""):
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)
