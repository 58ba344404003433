"""MLflow's MLproject files: named entry points, typed parameters, and command templates rendered to argv.

The template is split into words once, as its author wrote it; each `{param}` is then replaced inside its
word by the value as one string. A value is never split or passed through a shell, so `"; rm -rf /"` is
just an odd argument."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError, SourceError
from launcher.schema import normalize_parameter

FILENAME = "MLproject"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def find(root: Path) -> Path | None:
    for name in (FILENAME, "MLProject", "mlproject"):
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def parse_text(text: str, origin: str = FILENAME) -> dict[str, dict[str, Any]]:
    """Entry points as {name: {"command": template, "parameters": {name: {"type", "default"?}}}}."""
    import yaml  # only jobs with an MLproject pay for the import

    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise SourceError(f"{origin} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("entry_points"), Mapping):
        raise SourceError(f"{origin} has no 'entry_points' mapping")
    entry_points: dict[str, dict[str, Any]] = {}
    for name, body in document["entry_points"].items():
        if not isinstance(body, Mapping) or not isinstance(body.get("command"), str):
            raise SourceError(f"{origin}: entry point {name!r} needs a 'command' string")
        raw_parameters = body.get("parameters") or {}
        if not isinstance(raw_parameters, Mapping):
            raise SourceError(f"{origin}: parameters of entry point {name!r} must be a mapping")
        try:
            parameters = {str(p): normalize_parameter(str(p), spec) for p, spec in raw_parameters.items()}
        except ConfigError as error:
            raise SourceError(f"{origin}: entry point {name!r}: {error}") from None
        command = body["command"]
        try:
            words = shlex.split(command)
        except ValueError as error:
            raise SourceError(f"{origin}: command of entry point {name!r} cannot be split into words: {error}") from None
        missing = sorted({p for word in words for p in _PLACEHOLDER.findall(word)} - set(parameters))
        if missing:
            raise SourceError(f"{origin}: command of entry point {name!r} uses {{{missing[0]}}}, which is not a parameter")
        entry_points[str(name)] = {"command": command, "parameters": parameters}
    return entry_points


def render(command: str, values: Mapping[str, Any]) -> list[str]:
    """The command template as an argv list with each parameter's value substituted as one string."""
    def substitute(match: re.Match[str]) -> str:
        return _as_text(values[match.group(1)])

    return [_PLACEHOLDER.sub(substitute, word) for word in shlex.split(command)]


def _as_text(value: Any) -> str:
    return str(value)
