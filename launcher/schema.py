"""Config schemas: typed parameters (MLproject's types) and checking a run_config against them.

Values are converted as MLflow does: text that spells a number or a boolean is accepted for int, float
and bool parameters (config files and `-P name=value` give text), and numbers for string parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from launcher.errors import ConfigError

TYPES = ("string", "float", "int", "bool", "path", "uri")


def normalize_parameter(name: str, spec: Any) -> dict[str, Any]:
    """MLproject allows `name: type` or `name: {type: ..., default: ...}`."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"parameter {name!r} must be a type name or a mapping with 'type' and 'default', got {spec!r}")
    kind = spec.get("type", "string")
    if kind == "str":
        kind = "string"
    if kind == "number":
        kind = "float"
    if kind not in TYPES:
        raise ConfigError(f"parameter {name!r} has type {kind!r}; expected one of: {', '.join(TYPES)}")
    parameter: dict[str, Any] = {"type": kind}
    if "default" in spec and spec["default"] is not None:
        parameter["default"] = check_value(name, kind, spec["default"], coerce=True)
    return parameter


def check_value(name: str, kind: str, value: Any, *, coerce: bool = False) -> Any:
    """Return `value` if it fits `kind`. With coerce, strings are converted (text from a form or a file)."""
    if coerce and isinstance(value, str) and kind in ("int", "float", "bool"):
        return parse_text(name, kind, value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "uri" and isinstance(value, str):
        return check_uri(name, value)
    if kind in ("string", "path") and isinstance(value, str):
        return value
    if coerce and kind in ("string", "path", "uri") and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"config value {name}={value!r} does not match the schema: expected {_describe(kind)}")


def parse_text(name: str, kind: str, text: str) -> Any:
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ConfigError(f"config value {name}={text!r} does not match the schema: expected {_describe(kind)}") from None
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"config value {name}={text!r} does not match the schema: expected {_describe(kind)}")
    if kind == "uri":
        return check_uri(name, text)
    return text


# A scheme as RFC 3986 spells it; a value without one is a path, which MLflow also takes for a uri.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_uri(name: str, value: str) -> str:
    if not value or _SPACE_OR_CONTROL.search(value) or (value.endswith(":") and _SCHEME.fullmatch(value)):
        raise ConfigError(f"config value {name}={value!r} does not match the schema: expected {_describe('uri')}")
    return value


def validate_config(schema: Mapping[str, Mapping[str, Any]] | None, run_config: Mapping[str, Any]) -> dict[str, Any]:
    """Check run_config against schema and return it with defaults filled in."""
    if schema is None:
        return dict(run_config)
    unknown = sorted(set(run_config) - set(schema))
    if unknown:
        known = ", ".join(sorted(schema)) or "none"
        raise ConfigError(f"unknown config key {unknown[0]!r}; the job's parameters are: {known}")
    resolved: dict[str, Any] = {}
    for name, parameter in schema.items():
        if name in run_config:
            resolved[name] = check_value(name, parameter["type"], run_config[name], coerce=True)
        elif "default" in parameter:
            resolved[name] = parameter["default"]
        else:
            raise ConfigError(f"config value {name!r} is required ({_describe(parameter['type'])}) and has no default")
    return resolved


def _describe(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
            "path": "a path (string)", "uri": "a URI or a path, without spaces"}[kind]
