"""MLflow's MLproject files: entry points with typed parameters, the project's environment
(`python_env`, `conda_env` or `docker_env`), and commands rendered as `mlflow run` runs them.

Rendering follows MLflow's `EntryPoint.compute_command` (mlflow/projects/_project_spec.py):
- a user's value is checked against its parameter's type and passed as the text given (`1e-1` stays
  `1e-1`); a default from the file is passed as written, unchecked (MLflow checks only path and uri);
- a `path` value is made absolute inside the run's working directory and must exist;
- parameters the entry point does not declare are appended as `--name value`, each reported in a note;
- the template is read as bash reads it (shell_template.py): plain words run as argv, anything using
  shell syntax runs with `bash -c` with every value quoted, so a value never becomes shell syntax."""

from __future__ import annotations

import math
import os
import posixpath
import re
import shlex
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError, SourceError
from launcher.jobs import shell_template
from launcher.schema import Parameter, ParameterType, check_uri

FILENAME = "MLproject"
#: MLflow takes any capitalisation of the name; these are the ones met in practice.
FILENAMES = (FILENAME, "MLProject", "mlproject")
#: Names of undeclared parameters passed on as `--name value`: an option name, nothing a program could
#: read as something else.
_OPTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


# -- the project file ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DockerEnvVariable:
    """One `docker_env.environment` entry: `[NAME, value]` sets it, `NAME` alone copies the host's."""

    name: str
    value: str | None  # None: copied from the host's environment when the container starts

    def to_data(self) -> list[str] | str:
        return self.name if self.value is None else [self.name, self.value]


@dataclass(frozen=True)
class DockerEnv:
    """An MLproject's `docker_env`, as MLflow documents it: the image the project runs in, volumes as
    docker's `-v` strings (`/host:/container[:ro]`), environment variables to set or copy."""

    image: str
    volumes: tuple[str, ...] = ()
    environment: tuple[DockerEnvVariable, ...] = ()

    def container_environment(self, host: Mapping[str, str]) -> dict[str, str]:
        """The variables to set in the container; SourceError naming a variable to copy that the host
        does not have (MLflow refuses to start then too)."""
        values: dict[str, str] = {}
        for variable in self.environment:
            if variable.value is not None:
                values[variable.name] = variable.value
            elif variable.name in host:
                values[variable.name] = host[variable.name]
            else:
                raise SourceError(f"the MLproject's docker_env copies environment variable {variable.name!r} "
                                  "from this machine, but it is not set here; set it and launch again")
        return values

    def to_data(self) -> dict[str, Any]:
        return {"image": self.image, "volumes": list(self.volumes),
                "environment": [variable.to_data() for variable in self.environment]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> DockerEnv:
        return _docker_env(data, "recorded docker_env")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: Mapping[str, Parameter]
    template: shell_template.CommandTemplate = field(repr=False, compare=False)

    @classmethod
    def from_data(cls, name: str, data: Mapping[str, Any]) -> EntryPoint:
        """From the form a job version records: {"command": ..., "parameters": {name: {"type", "default"?}}}."""
        parameters = {p: Parameter.from_data(p, spec) for p, spec in (data.get("parameters") or {}).items()}
        return cls(name, data["command"], parameters, shell_template.parse(data["command"]))

    def to_data(self) -> dict[str, Any]:
        return {"command": self.command, "parameters": {p: spec.to_data() for p, spec in self.parameters.items()}}


@dataclass(frozen=True)
class MLProject:
    origin: str  # the file's name in the source
    name: str | None
    entry_points: Mapping[str, EntryPoint]
    python_env: str | None = None  # path of the python_env file, relative to the source root
    conda_env: str | None = None
    docker_env: DockerEnv | None = None

    def entry_points_data(self) -> dict[str, dict[str, Any]]:
        return {name: entry.to_data() for name, entry in self.entry_points.items()}


def find(root: Path) -> Path | None:
    for name in FILENAMES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def read_project(read_file: Callable[[str], str | None]) -> MLProject | None:
    """The source's MLproject, read through `read_file(relative_path) -> str | None`; None without one."""
    for name in FILENAMES:
        text = read_file(name)
        if text is not None:
            return parse_project(text, name)
    return None


def parse_project(text: str, origin: str = FILENAME) -> MLProject:
    import yaml  # only jobs with an MLproject pay for the import

    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise SourceError(f"{origin} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, Mapping):
        raise SourceError(f"{origin} must be a YAML mapping with 'entry_points'")
    raw_entry_points = document.get("entry_points") or {}
    if not isinstance(raw_entry_points, Mapping):
        raise SourceError(f"{origin}: 'entry_points' must be a mapping of names to entry points")
    environments = [key for key in ("python_env", "conda_env", "docker_env") if document.get(key)]
    if len(environments) > 1:
        raise SourceError(f"{origin} names {' and '.join(environments)}; a project has one environment "
                          "(MLflow refuses this too): keep one")
    entry_points = {str(name): _entry_point(origin, str(name), body) for name, body in raw_entry_points.items()}
    docker = document.get("docker_env")
    name = document.get("name")
    return MLProject(
        origin=origin, name=str(name) if name is not None else None, entry_points=entry_points,
        python_env=_relative_file(origin, "python_env", document.get("python_env")),
        conda_env=_relative_file(origin, "conda_env", document.get("conda_env")),
        docker_env=_docker_env(docker, f"{origin}: docker_env") if docker else None)


def parse_text(text: str, origin: str = FILENAME) -> dict[str, dict[str, Any]]:
    """Entry points in the form a job version records them:
    {name: {"command": template, "parameters": {name: {"type", "default"?}}}}."""
    return parse_project(text, origin).entry_points_data()


def _entry_point(origin: str, name: str, body: Any) -> EntryPoint:
    if not isinstance(body, Mapping) or not isinstance(body.get("command"), str):
        raise SourceError(f"{origin}: entry point {name!r} needs a 'command' string")
    raw_parameters = body.get("parameters") or {}
    if not isinstance(raw_parameters, Mapping):
        raise SourceError(f"{origin}: parameters of entry point {name!r} must be a mapping")
    try:
        parameters = {str(p): Parameter.from_spec(str(p), spec) for p, spec in raw_parameters.items()}
    except ConfigError as error:
        raise SourceError(f"{origin}: entry point {name!r}: {error}") from None
    command = body["command"]
    try:
        template = shell_template.parse(command)
    except shell_template.TemplateError as error:
        raise SourceError(f"{origin}: command of entry point {name!r} cannot be read as bash would: {error}") from None
    missing = sorted(template.names - set(parameters))
    if missing:
        raise SourceError(f"{origin}: command of entry point {name!r} uses {{{missing[0]}}}, which is not a parameter")
    return EntryPoint(name, command, parameters, template)


def _relative_file(origin: str, key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SourceError(f"{origin}: {key} must be the name of a file in the project, got {value!r}")
    return value


def _docker_env(value: Any, where: str) -> DockerEnv:
    if not isinstance(value, Mapping) or not isinstance(value.get("image"), str) or not value["image"].strip():
        raise SourceError(f"{where} needs an 'image' (e.g. image: python:3.11-slim)")
    volumes = value.get("volumes") or []
    if not isinstance(volumes, list) or not all(isinstance(volume, str) for volume in volumes):
        raise SourceError(f"{where}: volumes must be a list of strings such as '/host/data:/data', got {volumes!r}")
    environment = []
    for entry in value.get("environment") or []:
        if isinstance(entry, str) and entry:
            environment.append(DockerEnvVariable(entry, None))
        elif (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and entry[0]
              and isinstance(entry[1], str | int | float | bool)):
            environment.append(DockerEnvVariable(entry[0], str(entry[1])))
        else:
            raise SourceError(f"{where}: environment entry {entry!r} must be a variable name to copy from this "
                              "machine or a [NAME, value] pair")
    return DockerEnv(value["image"].strip(), tuple(volumes), tuple(environment))


# -- rendering -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderedCommand:
    """What a run executes for an entry point."""

    argv: tuple[str, ...]  # ("bash", "-c", command) when the template uses shell syntax
    #: One line each for the run's log: undeclared parameters passed on, a command run through bash.
    notes: tuple[str, ...]
    #: The run's config: declared parameters with typed values (defaults as written), then undeclared
    #: ones as given.
    config: dict[str, Any]
    shell: bool


def render_entry_point(entry: EntryPoint, values: Mapping[str, Any], workdir: Path | str, *,
                       exists: Callable[[str], bool] = os.path.exists) -> RenderedCommand:
    """The command `entry` runs with the user's `values` (as given: text or numbers), in the run's
    working directory `workdir` (as the program sees it). `exists(absolute_path)` checks a path
    parameter (default: on this machine). ConfigError, one line, for a value that does not fit."""
    texts: dict[str, str] = {}
    config: dict[str, Any] = {}
    for name, parameter in entry.parameters.items():
        if name in values:
            config[name] = parameter.check(values[name])
            text = parameter.text_of(values[name])
        elif parameter.has_default:
            config[name] = parameter.default
            text = str(parameter.default)  # as written in the file, as MLflow passes it
        else:
            missing = [p for p in entry.parameters if p not in values and not entry.parameters[p].has_default]
            raise ConfigError(f"entry point {entry.name!r} needs a value for {', '.join(map(repr, missing))} "
                              "(no default in the MLproject)")
        if parameter.type is ParameterType.PATH:
            text = _local_path(name, text, workdir, exists)
        elif parameter.type is ParameterType.URI:
            check_uri(name, text)
        texts[name] = text

    extras: list[tuple[str, str]] = []
    notes: list[str] = []
    for name, value in values.items():
        if name in entry.parameters:
            continue
        text = _undeclared_text(name, value)
        config[name] = value
        extras.append((name, text))
        notes.append(f"parameter {name!r} is not declared by entry point {entry.name!r}; passed on as "
                     f"--{name} {shlex.quote(text)}, as mlflow run does")

    template = entry.template
    if template.shell_syntax is None:
        argv = template.argv(texts)
        for name, text in extras:
            argv += [f"--{name}", text]
        return RenderedCommand(tuple(argv), tuple(notes), config, shell=False)
    command = template.shell_command(texts)
    command += "".join(f" --{name} {shlex.quote(text)}" for name, text in extras)
    notes.insert(0, f"entry point {entry.name!r} runs with bash -c: its command uses {template.shell_syntax}")
    return RenderedCommand(("bash", "-c", command), tuple(notes), config, shell=True)


def render(command: str, values: Mapping[str, Any]) -> list[str]:
    """The command template with each value's text (`str(value)`) substituted, as argv, or as
    ["bash", "-c", ...] when the template uses shell syntax. Path values are not resolved here: a run
    renders with `render_entry_point`, which knows its working directory."""
    template = shell_template.parse(command)
    texts = {name: str(values[name]) for name in template.names}
    if template.shell_syntax is None:
        return template.argv(texts)
    return ["bash", "-c", template.shell_command(texts)]


def _local_path(name: str, text: str, workdir: Path | str, exists: Callable[[str], bool]) -> str:
    """A path parameter's value as an absolute path inside the run's working directory, as MLflow makes
    it; it must exist. A remote URI (which MLflow would download) is refused."""
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme == "file" and not parsed.netloc:
        local = urllib.parse.unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, not a scheme
        raise ConfigError(f"parameter {name!r} (path) is {text!r}, a remote URI; path parameters take a file or "
                          "folder of the run's source or this machine (use a uri parameter for remote data)")
    else:
        local = text
    if not local:
        raise ConfigError(f"parameter {name!r} (path) is empty; expected a file or folder")
    absolute = posixpath.normpath(posixpath.join(str(workdir), local))
    if not exists(absolute):
        raise ConfigError(f"parameter {name!r} (path) is {text!r}, but {absolute} does not exist; expected a file "
                          "or folder, relative to the source's root or absolute")
    return absolute


def _undeclared_text(name: str, value: Any) -> str:
    if not _OPTION_NAME.fullmatch(name):
        raise ConfigError(f"undeclared parameter name {name!r} cannot be passed on as an option; expected "
                          "letters, digits, '_', '.' or '-'")
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config value {name}={value!r} is not a finite number")
        return str(value)
    raise ConfigError(f"undeclared parameter {name}={value!r} cannot be passed on as an option; "
                      "expected text, a number or true/false")
