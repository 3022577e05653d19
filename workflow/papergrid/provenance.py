"""Content hashes of code and config, so a rule reruns exactly when its inputs change.

Snakemake does not follow imports: editing ``papergrid/weights/train.py`` would not
rerun a training job on its own. Rules therefore pass :func:`source_hash` of the
module their script calls through ``params:``. The hash covers that module and every
module of the same package it imports, found by parsing the source (imports inside
functions included), so a change of content anywhere a job can reach reruns it, a
change elsewhere does not, and a touch changes nothing.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any


def _module_file(module: str) -> Path:
    """The source file of ``module``, found on disk without importing anything.

    ``importlib.util.find_spec`` of a submodule imports its parent packages, and
    ``from pkg.mod import name`` makes us ask about ``pkg.mod.name``, which would import
    ``pkg.mod`` (and torch with it): seconds on every dry run. Only the top-level
    package is located through the import system; the rest is path arithmetic.
    """
    root, _, rest = module.partition(".")
    spec = importlib.util.find_spec(root)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"source_hash: no module named {module!r}")
    if not rest:
        return Path(spec.origin)
    if not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"source_hash: {root!r} is not a package ({module!r})")
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    raise ModuleNotFoundError(f"source_hash: no module named {module!r}")


@cache
def _imports_in(source: str, module: str, is_package: bool, root: str) -> frozenset[str]:
    # keyed on the text itself: a file edited between calls is parsed again
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            # `from pkg import mod` may name a submodule
            found.update(f"{base}.{a.name}" for a in node.names)
    return frozenset(m for m in found if m == root or m.startswith(root + "."))


def _imported(path: Path, module: str, root: str) -> set[str]:
    """Modules under ``root`` that the file imports, anywhere in its body, plus the
    packages above ``module``, whose ``__init__`` runs when it is imported."""
    parts = module.split(".")
    parents = {".".join(parts[:i]) for i in range(1, len(parts))}
    return set(_imports_in(path.read_text(), module, path.name == "__init__.py", root)) | parents


def module_closure(*modules: str) -> dict[str, list[Path]]:
    """Every module reachable by imports within each module's top-level package."""
    todo = list(modules)
    files: dict[str, list[Path]] = {}
    while todo:
        module = todo.pop()
        if module in files:
            continue
        try:
            path = _module_file(module)
        except ModuleNotFoundError:
            if module in modules:
                raise
            continue  # `from pkg import name` where name is not a module
        files[module] = [path]
        todo.extend(_imported(path, module, module.split(".")[0]) - files.keys())
    return files


def source_hash(*modules: str) -> str:
    """Hash the source of the named modules and of what they import from their package.

    The hash covers file names relative to their package root and file contents,
    never mtimes, so touching a file leaves it unchanged.
    """
    digest = hashlib.sha256()
    paths = sorted({p for ps in module_closure(*modules).values() for p in ps})
    for path in paths:
        parts = path.parts
        roots = [i for i, part in enumerate(parts) if part in {m.split(".")[0] for m in modules}]
        rel = "/".join(parts[roots[0] :]) if roots else path.name
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    """Hash of one file's content."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively.

    Snakemake compares params by their serialised form, in which dict order counts:
    without this, reordering keys in config.yaml would rerun every job. A float zero is
    written 0.0 whatever its sign: -0.0 equals 0 in every setting, and would otherwise
    serialise differently and rerun the job.
    """
    if isinstance(value, Mapping):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value == 0.0:
        return 0.0
    return value


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash a resolved run config (JSON with sorted keys, so dict order is irrelevant;
    canonical, so -0.0 and 0.0 hash alike)."""
    text = json.dumps(canonical(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_hash(run: Mapping[str, Any], init: str = "") -> str:
    """The ``config_hash`` of a run: its whole resolved config as the grid built it (every
    grid coordinate, template, hook setting and stage) plus ``init``, a hash of its initial
    weights (:func:`papergrid.runtime.state_hash`), so that runs starting from different
    weights (another base model, say) never share a hash."""
    return config_hash({"run": run, "init": init})
