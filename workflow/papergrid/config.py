"""Validate config.yaml against its JSON schema before any job starts.

jsonschema's own messages quote whole sub-documents; users need the dotted key,
what was wrong, and what is allowed. :func:`validate_config` gathers every
violation into one :class:`ConfigError` with one line per problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
        return f"{key}: {err.instance!r} has the wrong type; expected {err.validator_value}"
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


def load_schema(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every schema violation in ``config``."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration:\n{lines}")
