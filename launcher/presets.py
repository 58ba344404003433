"""Presets: named launch settings saved as TOML files that people can read and edit by hand.

A preset file holds the keyword arguments of `launcher.spec.merge_request` at its top level, e.g.

    job = "me/demo/train:latest"
    entry_point = ["python", "train.py"]
    resource = "local-process"
    [config.overrides.run_config]
    lr = 0.1

They live in `$LAUNCHER_CONFIG_DIR/presets/` when that variable is set, else in the user config directory.
TOML has no null, so a setting that is not given is simply left out of the file."""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError, LaunchError

#: The settings a preset may hold: merge_request's keyword arguments.
PRESET_KEYS = ("job", "entry_point", "version", "name", "resource", "resource_args", "project", "entity",
               "docker_image", "config", "run_id", "repository")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SUFFIX = ".toml"


class PresetError(LaunchError):
    """The presets folder or a preset file cannot be written or removed."""


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    settings: dict[str, Any]


@dataclass(frozen=True)
class PresetProblem:
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"preset file {str(self.path)!r}: {self.problem}"


def presets_dir() -> Path:
    configured = os.environ.get("LAUNCHER_CONFIG_DIR")
    if configured:
        root = Path(configured).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_config_dir("launcher", appauthor=False))
    return root / "presets"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(f"preset name {name!r} is not valid; expected 1-64 letters, digits, '_', '.' or '-' "
                          "(starting with a letter or digit)")
    return name


def preset_path(name: str) -> Path:
    return presets_dir() / f"{check_name(name)}{SUFFIX}"


def list_presets() -> tuple[list[Preset], list[PresetProblem]]:
    """Every valid preset, sorted by name, and a problem for each file that is not a valid preset."""
    folder = presets_dir()
    presets: list[Preset] = []
    problems: list[PresetProblem] = []
    if not folder.is_dir():
        return presets, problems
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            presets.append(Preset(path.stem, path, _read(path)))
        except LaunchError as error:
            problems.append(PresetProblem(path, str(error)))
    return presets, problems


def load_preset(name: str) -> dict[str, Any]:
    """The preset's settings as keyword arguments for merge_request."""
    path = preset_path(name)
    if not path.is_file():
        known = ", ".join(p.name for p in list_presets()[0]) or "none"
        raise ConfigError(f"preset {name!r} does not exist in {str(path.parent)!r} (presets: {known})")
    try:
        return _read(path)
    except LaunchError as error:
        raise ConfigError(f"preset file {str(path)!r}: {error}") from None


def save_preset(name: str, settings: dict[str, Any]) -> Path:
    """Write (or replace) a preset; settings are checked first, so an invalid preset is never written."""
    import tomli_w

    path = preset_path(name)
    cleaned = _check_settings({k: v for k, v in settings.items() if v is not None and v != {} and v != []})
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(tomli_w.dumps(cleaned))
        os.replace(temporary, path)  # a reader never sees half a file
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise PresetError(f"preset {name!r} cannot be saved to {str(path)!r}: {_reason(error)}; "
                          "expected a writable folder (set LAUNCHER_CONFIG_DIR to choose another)") from None
    return path


def delete_preset(name: str) -> None:
    path = preset_path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise ConfigError(f"preset {name!r} does not exist in {str(path.parent)!r}") from None
    except OSError as error:
        raise PresetError(f"preset {name!r} cannot be deleted from {str(path)!r}: {_reason(error)}") from None


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot be read ({error})") from None
    return _check_settings(data)


def _check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(PRESET_KEYS))
    if unknown:
        raise ConfigError(f"unknown preset key {unknown[0]!r}; expected some of: {', '.join(PRESET_KEYS)}")
    from launcher.spec import merge_request

    try:
        merge_request(**settings)  # the same checks a launch makes on its settings
    except TypeError as error:  # e.g. an unhashable or wrongly nested value in the file
        raise ConfigError(f"settings are not valid: {error}") from None
    except LaunchError as error:
        raise ConfigError(str(error)) from None
    try:
        import tomli_w

        tomli_w.dumps(settings)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"settings cannot be written as TOML: {error}") from None
    return settings
