"""Launch requests: merging explicit arguments with a W&B-style launch config, and the resolved spec.

`merge_request` is pure: it checks shapes and types and returns a LaunchRequest; it never mutates its
inputs. `launcher.resolve` turns a request into a LaunchSpec by looking at the workspace (jobs, sources)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from launcher.errors import ConfigError, SpecError

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CONFIG_KEYS = ("overrides", "parameters", "resource", "resource_args", "project", "entity", "name", "run_id",
               "job", "entry_point", "version", "docker_image", "docker", "repository", "registry", "refresh")
OVERRIDE_KEYS = ("run_config", "args", "entry_point")


@dataclass(frozen=True)
class LaunchRequest:
    """What the caller asked for, merged from explicit arguments (which win) and config keys."""

    job: str | None = None
    entry_point: tuple[str, ...] | None = None
    version: str | None = None
    name: str | None = None
    resource: str | None = None
    resource_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    project: str | None = None
    entity: str | None = None
    docker_image: str | None = None
    run_config: dict[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    run_id: str | None = None
    repository: str | None = None
    #: Whether a code job's edited folder is snapshotted as a new version before its latest version
    #: runs: None for the default (yes, when the folder is still there), True to insist, False to skip.
    refresh: bool | None = None


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a runner needs, fully resolved; stored as JSON on the run."""

    run_id: str
    name: str
    project: str
    entity: str
    resource: str
    resource_args: dict[str, Any]
    #: The full job reference with its concrete version (entity/project/name:v3), or None.
    job: str | None
    job_kind: str | None
    #: Source facts: for code jobs the snapshot digest, for git jobs url, ref and commit.
    source: dict[str, Any]
    #: The program's argv (entry point with templating applied, then overrides.args).
    argv: tuple[str, ...]
    run_config: dict[str, Any]
    requirements: tuple[str, ...] = ()
    docker_image: str | None = None
    repository: str | None = None
    version: str | None = None
    entry_point_name: str | None = None
    #: What the job declares it needs (launcher.envs.declared.DeclaredDependencies.to_data()), when known.
    dependencies: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["requirements"] = list(self.requirements)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LaunchSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["argv"] = tuple(known.get("argv") or ())
        known["requirements"] = tuple(known.get("requirements") or ())
        return cls(**known)

    @property
    def job_label(self) -> str:
        return self.job or (f"image:{self.docker_image}" if self.docker_image else "-")


def merge_request(*, config: Mapping[str, Any] | None = None, parameters: Mapping[str, Any] | None = None,
                  **explicit: Any) -> LaunchRequest:
    """Merge explicit launch() arguments over a launch config in W&B Launch's format."""
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError(f"config must be a mapping of launch settings, got {type(config).__name__} {config!r}")
    config = copy.deepcopy(dict(config)) if config is not None else {}
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}; expected one of: {', '.join(CONFIG_KEYS)}")
    overrides = config.get("overrides", {})
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"config 'overrides' must be a mapping, got {overrides!r}")
    bad = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if bad:
        raise ConfigError(f"unknown key overrides.{bad[0]}; expected one of: {', '.join(OVERRIDE_KEYS)}")

    run_config: dict[str, Any] = {}
    for origin, values in (("config.parameters", config.get("parameters")),
                           ("overrides.run_config", overrides.get("run_config")),
                           ("parameters", parameters)):
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin} must be a mapping of parameter names to values, got {values!r}")
        run_config.update(copy.deepcopy(dict(values)))
    check_json_values(run_config, "run_config")

    args = overrides.get("args")
    args = [] if args is None else args
    if not isinstance(args, list | tuple) or not all(
            isinstance(a, str | int | float) and not isinstance(a, bool) for a in args):
        raise ConfigError(f"overrides.args must be a list of strings, got {args!r}")
    for number, arg in enumerate(args):
        if isinstance(arg, float):
            check_json_values(arg, f"overrides.args[{number}]")
        elif isinstance(arg, str) and "\0" in arg:
            raise ConfigError(f"overrides.args[{number}] {arg!r} is not valid; expected no NUL characters")

    docker = config.get("docker", {})
    docker = {} if docker is None else docker
    if not isinstance(docker, dict):
        raise ConfigError(f"config 'docker' must be a mapping, got {docker!r}")

    def pick(key: str, *fallbacks: Any) -> Any:
        value = explicit.get(key)
        if value is not None:
            return value
        for candidate in fallbacks:
            if candidate is not None:
                return candidate
        return None

    entry_point = pick("entry_point", overrides.get("entry_point"), config.get("entry_point"))
    resource_args = pick("resource_args", config.get("resource_args"))
    resource_args = {} if resource_args is None else resource_args
    if not isinstance(resource_args, Mapping) or not all(isinstance(v, Mapping) for v in resource_args.values()):
        raise SpecError(f"resource_args must map resource names to settings, e.g. "
                        f"{{'local-process': {{'env': {{...}}}}}}, got {resource_args!r}")

    request = LaunchRequest(
        job=pick("job", config.get("job")),
        entry_point=normalize_entry_point(entry_point),
        version=pick("version", config.get("version")),
        name=pick("name", config.get("name")),
        resource=pick("resource", config.get("resource")),
        resource_args={k: copy.deepcopy(dict(v)) for k, v in resource_args.items()},
        project=pick("project", config.get("project")),
        entity=pick("entity", config.get("entity")),
        docker_image=pick("docker_image", config.get("docker_image"), docker.get("docker_image")),
        run_config=run_config,
        args=tuple(str(a) for a in args),
        run_id=pick("run_id", config.get("run_id")),
        repository=pick("repository", config.get("repository"), config.get("registry")),
        refresh=_refresh(pick("refresh", config.get("refresh"))),
    )
    _check_strings(request)
    return request


#: The longest run name accepted (names show in tables, container labels and environment variables).
MAX_NAME_LENGTH = 128


def check_json_values(value: Any, where: str) -> None:
    """Config values are JSON values, and numbers are finite: NaN or Infinity would reach the program as
    text no JSON reader accepts (and sort and compare as no number does)."""
    import math

    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where} {value!r} is not valid; expected a finite number")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where} key {key!r} is not valid; expected a string")
            check_json_values(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for number, item in enumerate(value):
            check_json_values(item, f"{where}[{number}]")
        return
    raise ConfigError(f"{where} {value!r} is not a JSON value; expected a string, number, boolean, null, list "
                      "or mapping")


def normalize_entry_point(entry_point: Any) -> tuple[str, ...] | None:
    if entry_point is None:
        return None
    if isinstance(entry_point, str):
        # One word may name an MLproject entry point; anything else must be an argv list, because
        # splitting a string the way a shell would is exactly what this launcher never does for you.
        if not entry_point.strip() or any(c.isspace() for c in entry_point.strip()):
            raise SpecError(f"entry_point {entry_point!r} must be an argv list such as ['python', 'train.py'] "
                            "or the name of one MLproject entry point")
        return (entry_point.strip(),)
    if isinstance(entry_point, list | tuple) and entry_point and all(isinstance(a, str) for a in entry_point):
        if not entry_point[0].strip() or any("\0" in a for a in entry_point):
            raise SpecError(f"entry_point {list(entry_point)!r} is not valid; expected a program name first and no "
                            "NUL characters")
        return tuple(entry_point)
    raise SpecError(f"entry_point must be a non-empty list of strings, got {entry_point!r}")


def _refresh(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise SpecError(f"refresh {value!r} is not valid; expected true or false")


def _check_strings(request: LaunchRequest) -> None:
    for key in ("job", "version", "name", "resource", "project", "entity", "docker_image", "run_id", "repository"):
        value = getattr(request, key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SpecError(f"{key} must be a non-empty string, got {value!r}")
    if request.name is not None and (len(request.name) > MAX_NAME_LENGTH
                                     or any(ord(c) < 32 or ord(c) == 127 for c in request.name)):
        shown = request.name if len(request.name) <= 60 else request.name[:57] + "..."
        raise SpecError(f"name {shown!r} is not valid; expected at most {MAX_NAME_LENGTH} characters and no "
                        "control characters")
    if request.run_id is not None and not RUN_ID_PATTERN.match(request.run_id):
        raise SpecError(f"run_id {request.run_id!r} is not valid; expected 1-64 letters, digits, '_', '.' or '-'")
    for key in ("project", "entity"):
        value = getattr(request, key)
        if value is not None and not NAME_PATTERN.match(value):
            raise SpecError(f"{key} {value!r} is not valid; expected letters, digits, '_', '.' or '-'")
    if request.repository is not None and (request.repository.startswith("-") or any(c.isspace() for c in request.repository)):
        raise SpecError(f"repository {request.repository!r} is not valid; expected a registry path such as "
                        "'localhost:5000/team/images'")
    if request.version is not None and request.version.startswith("-"):
        raise SpecError(f"version {request.version!r} is not valid; a git ref may not start with '-'")
