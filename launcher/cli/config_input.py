"""Config given on the command line: a JSON or TOML file, or JSON or TOML text."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError, SpecError


def split_command(text: str, what: str) -> list[str]:
    """A command line typed by the user, split into argv the way a shell splits words (nothing runs it)."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise SpecError(f"{what} {text!r} cannot be split into words: {error}") from None
    if not words:
        raise SpecError(f"{what} {text!r} is empty; expected a command such as 'python train.py'")
    return words


def load_config(value: str) -> dict[str, Any]:
    path = Path(value).expanduser()
    kind = _file_kind(path) if len(value) < 4096 else None
    if kind == "directory":
        raise ConfigError(f"config file {value!r} is a directory; expected a JSON or TOML file, or config text")
    if kind == "file":
        from launcher.textfiles import read_text_file

        origin = f"config file {value!r}"
        text = read_text_file(path, origin, "a JSON or TOML file", ConfigError)
        kinds = ["toml"] if path.suffix == ".toml" else ["json"] if path.suffix == ".json" else ["json", "toml"]
    elif path.suffix in (".json", ".toml") and "\n" not in value:
        raise ConfigError(f"config file {value!r} does not exist")
    else:
        text, origin, kinds = value, f"config {value!r}", ["json", "toml"]
    problems = []
    for kind in kinds:
        try:
            data = json.loads(text) if kind == "json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
            problems.append(f"{kind.upper()}: {str(error).splitlines()[0]}")
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{origin} must be a mapping (a JSON object or TOML table), got {type(data).__name__}")
        return data
    raise ConfigError(f"{origin} is not valid {' or '.join(k.upper() for k in kinds)} ({'; '.join(problems)})")


def _file_kind(path: Path) -> str | None:
    """'file', 'directory', or None when nothing by that name can be found (text such as '{"lr": 0.1}' can
    be too long a name to look up at all)."""
    import stat

    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    return "directory" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else None


def parse_json_mapping(value: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{what} {value!r} is not valid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {value!r} must be a JSON object")
    return data
