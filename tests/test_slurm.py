"""The workflow through a real SLURM (slurmctld + slurmd on localhost) and the cluster profile.

Run with ``pytest -m slurm``; .ci/run installs slurm-wlm and munge first. Without them
the tests skip, unless PAPERGRID_REQUIRE_SLURM=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from papergrid import slurm_cluster

from .conftest import copy_workflow

pytestmark = pytest.mark.slurm

# the plugin's squeue mode: without slurmdbd, sacct cannot see jobs finish
SLURM_ARGS = (
    "--workflow-profile",
    "workflow/profiles/slurm",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--jobs",
    "4",
)
TIMING = {"wall_seconds", "us_per_token"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not slurm_cluster.available():
        if os.environ.get("PAPERGRID_REQUIRE_SLURM") == "1":
            pytest.fail("slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)")
        pytest.skip("slurm-wlm and munge are not installed")
    c = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm")).start()
    try:
        yield c
    finally:
        c.stop()


def run_on_slurm(wf, cluster, *targets: str) -> subprocess.CompletedProcess:
    env = {**wf.env, "SLURM_CONF": cluster.env["SLURM_CONF"]}
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "smoke.yaml", *SLURM_ARGS, *targets]
    return subprocess.run(cmd, cwd=wf.path, env=env, capture_output=True, text=True)


def job_ids(text: str) -> set[str]:
    return set(re.findall(r"SLURM jobid (\d+)", text))


def same_metrics(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = (
        a.sort_values("run_id").reset_index(drop=True),
        b.sort_values("run_id").reset_index(drop=True),
    )
    assert list(a["run_id"]) == list(b["run_id"])
    for col in a.columns:
        if col in TIMING or col == "device":
            continue
        if a[col].dtype.kind == "f":
            np.testing.assert_allclose(a[col], b[col], rtol=1e-6, equal_nan=True, err_msg=col)
        else:
            assert list(a[col]) == list(b[col]), col


def test_smoke_workflow_through_slurm_matches_the_local_run(tmp_path, smoke_run, cluster):
    wf = copy_workflow(tmp_path)
    proc = run_on_slurm(wf, cluster)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    ids = job_ids(log)
    local_jobs = sum(1 for line in log.splitlines() if line.startswith("localrule "))
    submitted = sum(1 for line in log.splitlines() if line.startswith("rule "))
    assert submitted > 20 and len(ids) == submitted, (submitted, len(ids))
    assert max(map(int, ids)) >= len(ids)  # ids the scheduler gave out, one per job
    assert local_jobs >= 1
    for exp in ("weights", "precision", "depth", "sft", "post"):
        here = pd.read_parquet(wf.path / f"results/{exp}/runs.parquet")
        there = pd.read_parquet(smoke_run.path / f"results/{exp}/runs.parquet")
        same_metrics(here, there)
    assert (wf.path / "results/REPORT.md").exists()


def test_a_cancelled_job_is_retried_and_nothing_is_lost(tmp_path, smoke_run, cluster):
    wf = copy_workflow(tmp_path)
    env = {**wf.env, "SLURM_CONF": cluster.env["SLURM_CONF"]}
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "smoke.yaml", *SLURM_ARGS, "weights"]
    proc = subprocess.Popen(
        cmd, cwd=wf.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    cancelled = None
    deadline = time.monotonic() + 300
    while cancelled is None and time.monotonic() < deadline and proc.poll() is None:
        running = cluster.run("squeue", "-h", "-t", "R", "-o", "%i|%k", check=False).stdout
        for line in running.splitlines():
            jobid, _, comment = line.partition("|")
            if "weights_train" in comment:
                time.sleep(2)  # mid-run: the job has started its script
                cluster.run("scancel", jobid)
                cancelled = jobid
                break
        time.sleep(0.5)
    proc.wait(timeout=900)
    reader.join(timeout=10)
    log = "".join(out)
    assert cancelled is not None, "no weights_train job was seen running:\n" + log[-3000:]
    assert proc.returncode == 0, log[-5000:]
    state = cluster.run("squeue", "-h", "-t", "all", "-j", cancelled, "-o", "%T").stdout.strip()
    assert state == "CANCELLED"
    assert len(job_ids(log)) > len(set(re.findall(r"^rule weights_train:", log, re.M))) - 1
    assert "weights_train" in log and re.search(r"(?i)error in rule weights_train", log)
    here = pd.read_parquet(wf.path / "results/weights/runs.parquet")
    there = pd.read_parquet(smoke_run.path / "results/weights/runs.parquet")
    same_metrics(here, there)
    assert shutil.which("sbatch")
