"""Content hashes of code and config, so a rule reruns exactly when its inputs change.

Snakemake does not follow imports: editing ``papergrid/weights/train.py`` would not
rerun a training job on its own. Rules therefore pass :func:`source_hash` of the
modules they depend on through ``params:``; a change of content changes the hash
and reruns the job, while a touch changes nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _module_files(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"source_hash: no module named {module!r}")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:  # a package: every module inside it
        return sorted(origin.parent.rglob("*.py"))
    return [origin]


def source_hash(*modules: str) -> str:
    """Hash the source text of the named modules (packages include all their files).

    The hash covers file names relative to their package root and file contents,
    never mtimes, so touching a file leaves it unchanged.
    """
    digest = hashlib.sha256()
    seen: set[Path] = set()
    for module in sorted(modules):
        root = module.split(".")[0]
        for path in _module_files(module):
            if path in seen:
                continue
            seen.add(path)
            parts = path.parts
            rel = "/".join(parts[parts.index(root) :]) if root in parts else path.name
            digest.update(rel.encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash a resolved run config (JSON with sorted keys, so dict order is irrelevant)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
