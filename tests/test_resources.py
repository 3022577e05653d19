import os
import stat

import pytest
import torch

from papergrid.config import ConfigError
from papergrid.resources import (
    ResourceError,
    check_memory,
    machine_memory_mb,
    memory_limit,
    slurm_memory_mb,
)
from papergrid.runtime import check_device_here


def fake_sinfo(tmp_path, monkeypatch, body: str) -> None:
    script = tmp_path / "sinfo"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_the_largest_slurm_node_is_the_cluster_limit(tmp_path, monkeypatch):
    fake_sinfo(tmp_path, monkeypatch, "printf '64000\\n257000+\\n'")
    assert slurm_memory_mb() == 257000
    assert memory_limit("slurm") == (257000, "the largest SLURM node's memory")
    # a dry run does not know its executor: the larger of here and the cluster
    assert memory_limit("dryrun")[0] == max(257000, machine_memory_mb())


def test_no_answer_from_slurm_means_no_cluster_limit(tmp_path, monkeypatch):
    fake_sinfo(tmp_path, monkeypatch, "echo 'sinfo: fatal: no controller' >&2; exit 1")
    assert slurm_memory_mb() is None
    assert memory_limit("slurm") is None
    assert memory_limit("dryrun") == (machine_memory_mb(), "this machine's memory")
    assert memory_limit("local") == (machine_memory_mb(), "this machine's memory")


def test_a_request_over_the_limit_names_what_asked():
    limit = (24_000, "this machine's memory")
    assert check_memory(3000, limit, "x") == 3000
    assert check_memory(10**9, None, "x") == 10**9
    with pytest.raises(ResourceError, match=r"weights\.grid\.width 9 asks for 30,000 MB"):
        check_memory(30_000, limit, "weights.grid.width 9")
    assert check_memory(30_000, limit, "x", attempt=2) == 24_000  # a retry asks for it all


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_only_where_jobs_run_here():
    with pytest.raises(ConfigError, match="device: 'cuda' was requested"):
        check_device_here("cuda", "local")
    check_device_here("cuda", "slurm")  # a submit host without a GPU
    check_device_here("cpu", "local")
    check_device_here("auto", "local")
