"""Cluster resource requests of training jobs, from the grid point's size (no torch).

A larger model or a longer schedule asks for more memory and time, so a paper-scale
config submits jobs that fit, and a retry (``attempt`` 2, 3, ...) asks for multiples.
The rates are deliberately low: a job that outruns its time limit is killed and retried,
a generous request only waits a little longer in the queue.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping

from papergrid.lm.config import GPTConfig

CPU_FLOPS = 2e9  # training FLOP/s of one core; tiny models here reach 5-15e9 (README)
GPU_FLOPS = 2e13  # one data-centre GPU in bf16 at these sizes (an H100 reached 1e14)
BASE_MB = 1500  # Python, torch and the data
ACTIVATION_BYTES = 34  # per token, layer and d_model unit kept for the backward pass (fp32)


def train_request(
    model: Mapping[str, int],
    steps: int,
    batch_size: int,
    seq_len: int,
    n_runs: int,
    threads: int,
    device: str,
    attempt: int,
) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) for ``n_runs`` runs of one shape in one job."""
    n = GPTConfig(vocab_size=2, block_size=2, **model).non_embedding_params
    tokens = steps * batch_size * seq_len
    rate = GPU_FLOPS if device == "cuda" else CPU_FLOPS * max(1, threads)
    minutes = 5 + 2 * 6 * n * tokens * n_runs / rate / 60  # start-up plus twice the estimate
    activations = batch_size * seq_len * model["d_model"] * model["n_layer"] * ACTIVATION_BYTES
    if device == "cuda":  # activations live on the GPU; the host holds a checkpoint's copy
        activations = 0
    mem = BASE_MB + (16 * n + activations) / 2**20  # weights, grads, Adam moments in fp32
    return {"mem_mb": attempt * math.ceil(mem), "runtime": attempt * max(10, math.ceil(minutes))}


class ResourceError(ValueError):
    """A job asks for more than any machine that could run it has."""


def machine_memory_mb() -> int:
    """Physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20


def slurm_memory_mb() -> int | None:
    """The largest node memory `sinfo` reports (over every partition), or None where
    SLURM does not answer (no sinfo, no controller)."""
    if shutil.which("sinfo") is None:
        return None
    try:
        out = subprocess.run(
            ["sinfo", "--noheader", "--format=%m"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    sizes = [int(m) for m in re.findall(r"\d+", out)]  # "257000+" when nodes differ
    return max(sizes) if sizes else None


def memory_limit(executor: str | None) -> tuple[int, str] | None:
    """(MB, which machine) no job may exceed under ``executor`` (Snakemake's plugin
    name), or None where nothing is known.

    A dry run does not say which executor would run the jobs, so it allows the larger of
    this machine and the SLURM cluster it can see (a submit host plans cluster jobs)."""
    here = (machine_memory_mb(), "this machine's memory")
    if executor == "local":
        return here
    cluster = slurm_memory_mb()
    cluster_limit = None if cluster is None else (cluster, "the largest SLURM node's memory")
    if executor == "slurm":
        return cluster_limit
    if executor == "dryrun":
        return max(here, cluster_limit or here)
    return None


def check_memory(mem_mb: int, limit: tuple[int, str] | None, what: str, attempt: int = 1) -> int:
    """``mem_mb`` unchanged, or :class:`ResourceError` when no machine can give it. A
    retry (``attempt`` > 1) that outgrows the machine asks for all of it instead."""
    if limit is not None and mem_mb > limit[0]:
        if attempt > 1:
            return limit[0]
        raise ResourceError(
            f"{what} asks for {mem_mb:,} MB of memory, more than {limit[1]} "
            f"({limit[0]:,} MB): make the model or batch smaller"
        )
    return mem_mb
