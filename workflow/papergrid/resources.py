"""Cluster resource requests of training jobs, from the grid point's size (no torch).

A larger model or a longer schedule asks for more memory and time, so a paper-scale
config submits jobs that fit, and a retry (``attempt`` 2, 3, ...) asks for multiples.
The rates are deliberately low: a job that outruns its time limit is killed and retried,
a generous request only waits a little longer in the queue.
"""

from __future__ import annotations

import math
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
