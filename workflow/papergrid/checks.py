"""Checks the workflow runs at plan time, before any job, beside the schema
(:mod:`papergrid.config`): what a schema cannot say or says unhelpfully.

- a number YAML read as a string (``3e-3``: YAML 1.1 wants a dot in the mantissa);
- a learning rate float32 cannot hold (above its largest value it fails inside torch in
  every job; below its smallest it rounds to zero and nothing trains);
- user data files (the weights experiment's IDX files) that are missing, not files,
  unreadable or not IDX;
- weights arms the grid names but ``weights.optimizers`` does not define, and a decay
  reference that is not an arm of the grid without decay;
- ``--configfile`` given more than once on the command line (Snakemake keeps the last);
- a results folder that cannot be written.

Each returns one line per problem, naming the key or file and what to do; the Snakefile
stops with all of them before planning (:func:`raise_problems`). Kept out of
:mod:`papergrid.config`, which every training job imports, so that a new check reruns no
training.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from papergrid.config import ConfigError, _key, _walk

# a float written without a dot before its exponent: YAML 1.1 (PyYAML, Snakemake) reads
# 3e-3 and 1E5 as strings
EXPONENT_WITHOUT_DOT = re.compile(r"^[-+]?\d+[eE][-+]?\d+$")
FLOAT32 = np.finfo(np.float32)
FLOAT32_TINY = float(np.nextafter(np.float32(0), np.float32(1)))  # the smallest subnormal
IDX_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
IDX_TYPES = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}


def number_strings(config: Mapping[str, Any]) -> list[str]:
    """Strings YAML read from numbers written in exponent form without a dot."""
    out = []
    for path, value in _walk(config):
        if isinstance(value, str) and EXPONENT_WITHOUT_DOT.match(value.strip()):
            mantissa, exponent = re.split("[eE]", value.strip())
            fixed = f"{mantissa}.0e{exponent}"
            out.append(
                f"{_key(path)}: {value!r} is read by YAML as a string, not a number (YAML "
                f"wants a dot in the mantissa): write {fixed} or {float(value):g}"
            )
    return out


def _is_lr(path: tuple) -> bool:
    last = path[-1] if path else ""
    return isinstance(last, str) and (last == "lr" or last.endswith("_lr"))


def learning_rate_problems(config: Mapping[str, Any]) -> list[str]:
    """Learning rates float32 cannot hold: every run's parameters and optimizer state are
    float32 (bfloat16 has the same range), and torch refuses a larger rate in every job."""
    out = []
    for path, value in _walk(config):
        if not _is_lr(path) or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        v = abs(float(value))
        if v > float(FLOAT32.max):
            out.append(
                f"{_key(path)}: {value!r} is larger than float32 can hold "
                f"({float(FLOAT32.max):.4g}); every job would fail in torch: use a rate of "
                "order 1e-4 to 1"
            )
        elif 0 < v < FLOAT32_TINY:
            out.append(
                f"{_key(path)}: {value!r} rounds to 0 in float32 (smallest {FLOAT32_TINY:.3g}); "
                "no run would move: use a rate of order 1e-4 to 1"
            )
    return out


def idx_problem(path_text: str) -> str:
    """Why a file is not a readable IDX file ("" when it is one)."""
    path = Path(os.path.expanduser(path_text))
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        return "is a directory, not a file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permissions)"
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(4)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_TYPES or head[3] == 0:
        return f"is not an IDX file (first bytes {head!r}; IDX starts 00 00, a type code, ndim)"
    return ""


def data_problems(config: Mapping[str, Any]) -> list[str]:
    """The weights experiment's IDX files, when it reads them."""
    data = (config.get("weights") or {}).get("data") or {}
    if data.get("source") != "idx":
        return []
    out = []
    for key in IDX_KEYS:
        value = (data.get("idx") or {}).get(key)
        if not value:
            out.append(f"weights.data.idx.{key}: needed with source idx (a path to an IDX file)")
            continue
        why = idx_problem(str(value))
        if why:
            out.append(f"weights.data.idx.{key}: {value} {why}")
    return out


def weights_arm_problems(config: Mapping[str, Any]) -> list[str]:
    """Arms in ``weights.grid.optimizer`` that ``weights.optimizers`` does not define, and a
    ``weights.analysis.decay_reference`` the arms with decay cannot be compared with."""
    block = config.get("weights") or {}
    arms = block.get("optimizers") or {}
    out = []
    for i, name in enumerate((block.get("grid") or {}).get("optimizer") or []):
        if name not in arms:
            out.append(
                f"weights.grid.optimizer[{i}]: {name!r} is not an arm of weights.optimizers "
                f"(defined: {sorted(arms)}); add it there (type sgd, adam or adamw) or "
                "remove it from the grid"
            )
    ref = (block.get("analysis") or {}).get("decay_reference")
    grid = (block.get("grid") or {}).get("optimizer") or []
    with_decay = [a for a in grid if (arms.get(a) or {}).get("decay_dose", 0) > 0]
    if with_decay and ref not in grid:
        out.append(
            f"weights.analysis.decay_reference: {ref!r} is not in weights.grid.optimizer "
            f"{list(grid)}, so the arms with weight decay {with_decay} have nothing to be "
            "compared with; name an arm of the grid without decay"
        )
    elif with_decay and (arms.get(ref) or {}).get("decay_dose", 0) > 0:
        out.append(
            f"weights.analysis.decay_reference: {ref!r} has weight decay itself "
            f"(decay_dose {arms[ref]['decay_dose']}); name an arm without decay"
        )
    return out


def configfile_problems(argv: Sequence[str]) -> list[str]:
    """``--configfile`` more than once: Snakemake keeps only the last one's files."""
    flags = [a for a in argv if a in ("--configfile", "--configfiles")]
    flags += [a for a in argv if a.startswith(("--configfile=", "--configfiles="))]
    if len(flags) < 2:
        return []
    return [
        f"--configfile is given {len(flags)} times and Snakemake would use only the last: "
        "name every file after one flag (--configfile a.yaml b.yaml; later files win)"
    ]


def writable_problems(folders: Sequence[str | os.PathLike]) -> list[str]:
    """Folders the workflow writes that exist and cannot be written (checked by writing,
    since permissions say nothing of a read-only mount, or to root)."""
    out = []
    for folder in folders:
        f = Path(folder)
        if not f.exists():
            parent = next((p for p in f.parents if p.exists()), Path("."))
            f = parent
        try:
            with tempfile.NamedTemporaryFile(dir=f, prefix=".papergrid-probe-"):
                pass
        except OSError as err:
            out.append(
                f"{folder}: cannot write here ({err.strerror or err}); make it writable or "
                "run from a clone where it is"
            )
    return out


def raise_problems(problems: Sequence[str]) -> None:
    if problems:
        raise ConfigError("\n".join(problems))
