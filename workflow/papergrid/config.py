"""Validate config.yaml against its JSON schema before any job starts.

jsonschema's own messages quote whole sub-documents; users need the dotted key,
what was wrong, and what is allowed. :func:`validate_config` gathers every
violation into one :class:`ConfigError` with one line per problem.
:func:`load_config_file` reads a config file more strictly than Snakemake does (a
repeated key is an error, a syntax error names the file and line).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """The configuration is invalid; the message names each bad key."""


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _describe(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(err.instance) - set(allowed))
        return f"{key}: unknown key(s) {unknown}; allowed keys: {allowed}"
    if err.validator == "enum":
        return f"{key}: {err.instance!r} is not allowed; allowed values: {err.validator_value}"
    if err.validator == "type":
        hint = ""
        if isinstance(err.instance, str) and set(_listed(err.validator_value)) & NUMERIC:
            hint = (
                " (a nested `--config` value reaches the workflow as a string:"
                " put nested overrides in a file passed with --configfile)"
            )
        return f"{key}: {err.instance!r} has the wrong type; expected {err.validator_value}{hint}"
    if err.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": ">=",
            "exclusiveMinimum": ">",
            "maximum": "<=",
            "exclusiveMaximum": "<",
        }
        bound = f"{words[err.validator]} {err.validator_value}"
        return f"{key}: {err.instance!r} is out of range; must be {bound}"
    if err.validator == "minItems":
        return f"{key}: needs at least {err.validator_value} item(s), got {len(err.instance)}"
    if err.validator == "uniqueItems":
        return f"{key}: items must be unique, got {err.instance!r}"
    if err.validator == "required":
        return f"{key}: {err.message}"
    return f"{key}: {err.message}"


NUMERIC = {"integer", "number"}


def _listed(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def load_schema(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _is_int(_checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# JSON Schema counts 64.0 as an integer; a float width names files w64.0_* and a float
# seed fails inside every training job, so only a written integer passes.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int),
)


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def _cross_key_problems(config: Mapping[str, Any]) -> list[str]:
    """What a schema cannot say: NaN and infinity pass every range check (every
    comparison with NaN is false), and n_head must divide d_model in any model shape."""
    problems = []
    for path, node in _walk(config):
        if isinstance(node, float) and not math.isfinite(node):
            problems.append(f"{_key(path)}: {node!r} is not a finite number")
        elif isinstance(node, Mapping):
            d, h = node.get("d_model"), node.get("n_head")
            if _is_int(None, d) and _is_int(None, h) and h > 0 and d % h:
                problems.append(
                    f"{_key((*path, 'n_head'))}: {h} does not divide "
                    f"{_key((*path, 'd_model'))} {d}; pick a divisor of {d}"
                )
    return problems


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every schema violation in ``config``."""
    errors = sorted(
        _Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path))
    )
    lines = [_describe(e) for e in errors] + _cross_key_problems(config)
    if lines:
        body = "\n".join(f"  - {line}" for line in lines)
        raise ConfigError(f"invalid configuration:\n{body}")


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{self.name}, line {line}: key {key!r} is repeated (first at line "
                    f"{seen[key]}); YAML would silently keep the last value. Keep one."
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_config_file(path: str | os.PathLike) -> dict:
    """A config file's mapping, or a :class:`ConfigError` naming the file (and the line)
    when it is missing, empty, not a mapping, not YAML, or repeats a key."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    loader = _StrictLoader(text)
    loader.name = path
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(
            f"{path}: the file is empty; a config file holds top-level keys such as "
            "`device:` and one block per experiment (see config.yaml)"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: holds a {type(data).__name__}, not a mapping of top-level keys "
            "(see config.yaml)"
        )
    return data
