"""The launch form's model, free of widgets: turning form text into merge_request settings, turning a run's
spec or a preset back into form values, and pointing an engine error at the field that caused it."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from launcher.errors import ConfigError, JobError, LaunchError, ResourceError, RunError, SourceError
from launcher.schema import parse_text

#: Form fields that hold one line of text, in the order they are shown after job/version/entry point.
TEXT_FIELDS = ("name", "project", "entity", "docker_image", "run_id", "repository")


@dataclass
class FormValues:
    """What the form shows, as text."""

    job: str = ""
    version: str = ""
    entry_name: str | None = None  # a named MLproject entry point
    command: str = ""  # an argv written as a command line (split like a shell would, never run by one)
    resource: str = "local-process"
    resource_args: str = ""
    name: str = ""
    project: str = ""
    entity: str = ""
    docker_image: str = ""
    run_id: str = ""
    repository: str = ""
    config_format: str = "toml"
    config_text: str = ""
    #: parameter name -> text, for the typed fields of an MLproject entry point
    params: dict[str, str] = field(default_factory=dict)


class FormErrors(Exception):
    """Problems found in the form's text, keyed by field ('param:NAME' for a typed parameter)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def error_text(error: BaseException) -> str:
    """What a worker's failure says: an engine error as it is, anything else with its type (a bug, which
    must still show rather than vanish in a worker)."""
    return str(error) if isinstance(error, LaunchError) else f"unexpected error: {type(error).__name__}: {error}"


def parse_config_text(text: str, kind: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        data = json.loads(text) if kind == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"config is not valid {kind.upper()}: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a {'JSON object' if kind == 'json' else 'TOML table'} of parameter values")
    return data


def format_config(values: dict[str, Any], kind: str) -> str:
    if not values:
        return ""
    if kind == "json":
        return json.dumps(values, indent=2)
    import tomli_w

    try:
        return tomli_w.dumps(values)
    except (TypeError, ValueError):
        return json.dumps(values, indent=2)


def parse_resource_args(text: str, resource: str, resources: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """The resource args field: the chosen resource's settings, e.g. {"env": {...}}, or the CLI's -R form
    keyed by resource name (one of `resources`, the chosen one always counts), e.g.
    {"local-container": {"env": {...}}}; returned keyed by resource."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"resource args {text!r} is not valid JSON: {error.msg} (line {error.lineno}, "
                          f"column {error.colno})") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"resource args {text!r} must be a JSON object, e.g. {{\"env\": {{\"SEED\": \"1\"}}}} "
                          f"or {{\"{resource}\": {{\"env\": {{...}}}}}}")
    known = {*resources, resource}
    if not parsed or not set(parsed) <= known:
        return {resource: parsed}
    if resource not in parsed:
        raise ConfigError(f"resource args {text!r} are keyed by {', '.join(sorted(parsed))}, but the resource is "
                          f"{resource!r}; expected settings for {resource!r} (or leave the resource name out)")
    if not isinstance(parsed[resource], dict):
        raise ConfigError(f"resource args for {resource!r} {parsed[resource]!r} must be a JSON object")
    return {resource: parsed[resource]}


def to_settings(values: FormValues, parameter_types: dict[str, str], resources: Iterable[str] = ()) -> dict[str, Any]:
    """merge_request keyword arguments; raises FormErrors for text that cannot even be parsed. `resources`:
    the resource names, so that resource args keyed by one of them are recognised as such."""
    errors: dict[str, str] = {}
    settings: dict[str, Any] = {}
    if values.job.strip():
        settings["job"] = values.job.strip()
    if values.version.strip():
        settings["version"] = values.version.strip()
    if values.command.strip():
        try:
            settings["entry_point"] = shlex.split(values.command)
        except ValueError as error:
            errors["command"] = f"command {values.command!r} cannot be split into words: {error}"
    elif values.entry_name:
        settings["entry_point"] = [values.entry_name]
    if values.resource:
        settings["resource"] = values.resource
    if values.resource_args.strip():
        try:
            settings["resource_args"] = parse_resource_args(values.resource_args, values.resource, resources)
        except ConfigError as error:
            errors["resource_args"] = str(error)
    for key in TEXT_FIELDS:
        text = getattr(values, key).strip()
        if text:
            settings[key] = text
    run_config: dict[str, Any] = {}
    try:
        run_config.update(parse_config_text(values.config_text, values.config_format))
    except ConfigError as error:
        errors["config"] = str(error)
    for name, text in values.params.items():
        if not text.strip():
            continue
        try:
            run_config[name] = parse_text(name, parameter_types.get(name, "string"), text)
        except ConfigError as error:
            errors[f"param:{name}"] = str(error)
    if run_config:
        settings["config"] = {"overrides": {"run_config": run_config}}
    if errors:
        raise FormErrors(errors)
    return settings


def from_settings(settings: dict[str, Any], entry_names: list[str] | None = None) -> FormValues:
    """Form values for merge_request settings (a preset)."""
    values = FormValues()
    values.job = settings.get("job") or ""
    values.version = settings.get("version") or ""
    entry = settings.get("entry_point")
    if isinstance(entry, str):
        entry = [entry]
    if entry:
        if len(entry) == 1 and (entry_names is None or entry[0] in entry_names) and " " not in entry[0] \
                and "/" not in entry[0] and "." not in entry[0]:
            values.entry_name = entry[0]
        else:
            values.command = shlex.join(str(word) for word in entry)
    values.resource = settings.get("resource") or "local-process"
    resource_args = settings.get("resource_args") or {}
    chosen = resource_args.get(values.resource) or (next(iter(resource_args.values())) if resource_args else None)
    values.resource_args = json.dumps(chosen) if chosen else ""
    for key in TEXT_FIELDS:
        setattr(values, key, settings.get(key) or "")
    config = settings.get("config") or {}
    run_config: dict[str, Any] = {}
    run_config.update(config.get("parameters") or {})
    run_config.update((config.get("overrides") or {}).get("run_config") or {})
    values.config_text = format_config(run_config, values.config_format)
    return values


def settings_from_spec(spec: Any) -> dict[str, Any]:
    """merge_request settings that launch a run again the way it was launched (with a new run id)."""
    settings: dict[str, Any] = {
        "job": spec.job, "name": spec.name, "resource": spec.resource, "project": spec.project,
        "entity": spec.entity, "repository": spec.repository,
    }
    if spec.job_kind == "git":
        # The commit the run ran, not the branch it named: once the branch moves, the branch runs other code.
        commit = (spec.source or {}).get("commit")
        if commit or spec.version:
            settings["version"] = commit or spec.version
    if spec.entry_point_name:
        settings["entry_point"] = [spec.entry_point_name]
    elif spec.argv:
        settings["entry_point"] = list(spec.argv)
    if spec.docker_image and spec.job_kind != "image":
        settings["docker_image"] = spec.docker_image
    if spec.resource_args:
        settings["resource_args"] = {spec.resource: dict(spec.resource_args)}
    if spec.run_config:
        settings["config"] = {"overrides": {"run_config": dict(spec.run_config)}}
    return {k: v for k, v in settings.items() if v is not None}


def pinned_version_hint(spec: Any) -> str:
    """What a relaunch's pinned commit was named when the run was launched ('' when there is nothing to say)."""
    commit = (spec.source or {}).get("commit") if spec.job_kind == "git" else None
    if not commit or not spec.version or spec.version == commit:
        return ""
    return f"pinned to the commit the run ran; it was launched at {spec.version!r} (type that to run its latest commit)"


_CONFIG_VALUE = re.compile(r"config value '?([A-Za-z0-9_.-]+?)'?[= ]")
_KEYWORDS = (
    ("run_id", "run_id"), ("entry point", "entry"), ("entry_point", "entry"), ("docker_image", "docker_image"),
    ("docker image", "docker_image"), ("resource_args", "resource_args"), ("repository", "repository"),
    ("version", "version"), ("project", "project"), ("entity", "entity"), ("resource", "resource"),
    ("nothing to launch", "job"), ("job", "job"), ("name", "name"),
)


def field_for_error(error: LaunchError, params: list[str]) -> str | None:
    """The form field an engine error is about, judged from its type and the value its message names."""
    message = str(error)
    if isinstance(error, ConfigError):
        match = _CONFIG_VALUE.search(message)
        if match and match.group(1) in params:
            return f"param:{match.group(1)}"
        return "config"
    if isinstance(error, JobError):
        return "job"
    if isinstance(error, ResourceError):
        if "resource_args" in message:
            return "resource_args"
        if "docker_image" in message:
            return "docker_image"
        return "resource"
    if isinstance(error, RunError) and "run_id" in message:
        return "run_id"
    if isinstance(error, SourceError):
        if "entry point" in message:
            return "entry"
        if "docker image" in message:
            return "docker_image"
        return "version" if ("ref" in message or "version" in message) else "job"
    lowered = message.lower()
    for keyword, name in _KEYWORDS:
        if keyword in lowered:
            return name
    return None
