"""Process set-up shared by every training job: threads, seeds, device, versions."""

from __future__ import annotations

import random
import zlib

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")


def configure(threads: int, seed: int) -> None:
    """Use the rule's ``threads`` for torch and seed every generator we touch."""
    torch.set_num_threads(max(1, int(threads)))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def stream_seed(seed: int, purpose: str, k: int = 0) -> int:
    """The seed of one random stream of a job: prompts, samples, new weights at a growth.
    Derived, not added up, so that no two purposes or seeds ever share a stream."""
    key = zlib.crc32(purpose.encode())
    return int(np.random.default_rng([int(seed), key, int(k)]).integers(2**62))


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda when present; asking for cuda without one is an error."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA device")
    return torch.device(name)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return "cpu"


def torch_version() -> str:
    return torch.__version__


def state_hash(model: torch.nn.Module) -> str:
    """Hash of a model's parameters and buffers (names, shapes, dtypes and bytes)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def check_device_here(name: str, executor: str | None) -> None:
    """Stop a local run asking for cuda on a machine without one, once, before any job
    (each training job would otherwise fail, and be retried). A cluster submit host
    without a GPU is fine: there the jobs run elsewhere."""
    if name == "cuda" and executor == "local" and not torch.cuda.is_available():
        from papergrid.config import ConfigError

        raise ConfigError(
            "device: 'cuda' was requested but torch sees no CUDA device on this machine; "
            "set device: cpu (or auto), or submit to a GPU cluster with "
            "--workflow-profile workflow/profiles/slurm"
        )
