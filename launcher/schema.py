"""Config schemas: typed parameters (MLproject's types) and checking a run_config against them.

Values are checked as MLflow takes them: text that spells a number or a boolean is accepted for int,
float and bool parameters (config files and `-P name=value` give text), and numbers for string
parameters. A program receives the text it was given (`1e-1` stays `1e-1`), once that text is checked;
the run's config (LAUNCHER_CONFIG) holds the typed value. A default written in the project file is taken
as written, unchecked, as MLflow does (`devices: {type: int, default: auto}`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from launcher.errors import ConfigError


class ParameterType(StrEnum):
    STRING = "string"
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    PATH = "path"
    URI = "uri"


TYPES = tuple(kind.value for kind in ParameterType)
#: Other names MLproject files use for a type.
_ALIASES = {"str": ParameterType.STRING, "number": ParameterType.FLOAT}


@dataclass(frozen=True)
class Parameter:
    """One typed parameter. `default` is the project file's value as written; None: no default."""

    name: str
    type: ParameterType
    default: Any = None

    @property
    def has_default(self) -> bool:
        return self.default is not None

    @classmethod
    def from_spec(cls, name: str, spec: Any) -> Parameter:
        """MLproject allows `name: type` or `name: {type: ..., default: ...}`."""
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"parameter {name!r} must be a type name or a mapping with 'type' and 'default', "
                              f"got {spec!r}")
        kind = spec.get("type", "string")
        kind = _ALIASES.get(kind, kind)
        if kind not in TYPES:
            raise ConfigError(f"parameter {name!r} has type {kind!r}; expected one of: {', '.join(TYPES)}")
        return cls(name, ParameterType(kind), _as_written(spec.get("default")))

    @classmethod
    def from_data(cls, name: str, data: Mapping[str, Any]) -> Parameter:
        """From the form a job version records (`to_data`)."""
        return cls(name, ParameterType(data["type"]), data.get("default"))

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type.value}
        if self.has_default:
            data["default"] = self.default
        return data

    def check(self, given: Any) -> Any:
        """The typed value of a value the user gave; ConfigError naming the type when it does not fit."""
        return check_value(self.name, self.type, given, coerce=True)

    def text_of(self, given: Any) -> str:
        """The text a program receives for a value the user gave, after `check`: text as the user wrote
        it (surrounding white space dropped for numbers and booleans), anything else as Python writes it,
        as MLflow does."""
        self.check(given)
        if isinstance(given, str) and self.type in (ParameterType.INT, ParameterType.FLOAT, ParameterType.BOOL):
            return given.strip()
        return str(given)


def _as_written(default: Any) -> Any:
    """A default as the project file wrote it, kept in a form a job version can record (JSON): YAML's
    other scalars (dates, infinities) become the text MLflow would pass for them."""
    if default is None or isinstance(default, bool | int | str):
        return default
    if isinstance(default, float) and math.isfinite(default):
        return default
    return str(default)


def normalize_parameter(name: str, spec: Any) -> dict[str, Any]:
    """A parameter as a job version records it: {"type": ..., "default"?: ...}."""
    return Parameter.from_spec(name, spec).to_data()


def check_value(name: str, kind: str, value: Any, *, coerce: bool = False) -> Any:
    """Return `value` if it fits `kind`. With coerce, strings are converted (text from a form or a file)."""
    if coerce and isinstance(value, str) and kind in ("int", "float", "bool"):
        return parse_text(name, kind, value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(name, value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "uri" and isinstance(value, str):
        return check_uri(name, value)
    if kind in ("string", "path") and isinstance(value, str):
        return value
    if coerce and kind in ("string", "path", "uri") and isinstance(value, int | float) and not isinstance(value, bool):
        return str(_finite(name, value))
    raise ConfigError(f"config value {name}={value!r} does not match the schema: expected {_describe(kind)}")


def parse_text(name: str, kind: str, text: str) -> Any:
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return _finite(name, float(text))
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


def _finite(name: str, number: int | float) -> int | float:
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError(f"config value {name}={number!r} does not match the schema: expected a finite number")
    return number


# A scheme as RFC 3986 spells it; a value without one is a path, which MLflow also takes for a uri.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_uri(name: str, value: str) -> str:
    if not value or _SPACE_OR_CONTROL.search(value) or (value.endswith(":") and _SCHEME.fullmatch(value)):
        raise ConfigError(f"config value {name}={value!r} does not match the schema: expected {_describe('uri')}")
    return value


def validate_config(schema: Mapping[str, Mapping[str, Any]] | None, run_config: Mapping[str, Any], *,
                    allow_undeclared: bool = False) -> dict[str, Any]:
    """Check run_config against schema and return it with defaults filled in. With `allow_undeclared`,
    keys the schema does not declare are kept as given (MLproject entry points pass them on as
    `--name value`); otherwise they are refused."""
    if schema is None:
        return dict(run_config)
    unknown = [key for key in run_config if key not in schema]
    if unknown and not allow_undeclared:
        known = ", ".join(sorted(schema)) or "none"
        raise ConfigError(f"unknown config key {sorted(unknown)[0]!r}; the job's parameters are: {known}")
    resolved: dict[str, Any] = {}
    for name, parameter in schema.items():
        if name in run_config:
            resolved[name] = check_value(name, parameter["type"], run_config[name], coerce=True)
        elif parameter.get("default") is not None:
            resolved[name] = parameter["default"]
        else:
            raise ConfigError(f"config value {name!r} is required ({_describe(parameter['type'])}) and has no default")
    for name in unknown:
        resolved[name] = run_config[name]
    return resolved


def _describe(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
            "path": "a path (string)", "uri": "a URI or a path, without spaces"}[kind]
