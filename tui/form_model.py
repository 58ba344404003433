"""The launch form's model, free of widgets: turning form text into merge_request settings, turning a run's
spec or a preset back into form values, reading a resource option's field as its declared value, and
pointing an engine error at the field that caused it."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launcher.errors import ConfigError, JobError, LaunchError, ResourceError, RunError, SourceError
from launcher.options import OptionKind
from launcher.schema import parse_text

if TYPE_CHECKING:
    from launcher.options import Option
    from launcher.spec import LaunchSpec

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
    #: More resource args, as JSON (the chosen resource's, or keyed by resource as the CLI's -R takes them).
    resource_args: str = ""
    #: option name -> what its field holds: text, or True/False for a switch (the chosen resource's options).
    resource_fields: dict[str, str | bool] = field(default_factory=dict)
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


def option_value(option: Option, label: str, held: str | bool) -> Any:
    """The value a resource option's field holds, checked by the option's declaration: None when the field
    is empty (or a switch is at its default), else a value the option accepts; raises the LaunchError of
    its check (one line naming `label`) when none fits.

    Text is read as JSON when that gives a value the option accepts (`1.5`, `{"SEED": "1"}`, `["a"]`),
    else as itself (`2g`, `host`, `1000:1000`): one field takes what `-R` would."""
    if isinstance(held, bool):
        if option.kind is OptionKind.BOOLEAN and held == bool(option.default):
            return None
        option.check(label, held)
        return held
    text = held.strip()
    if not text:
        return None
    candidates: list[Any] = []
    try:
        candidates.append(json.loads(text))
    except ValueError:
        pass
    candidates.append(text)
    first_error: LaunchError | None = None
    for candidate in candidates:
        try:
            option.check(label, candidate)
        except LaunchError as error:
            first_error = first_error or error
            continue
        return candidate
    assert first_error is not None
    raise first_error


def field_text(value: Any) -> str | bool:
    """What a resource option's field shows for a value from settings (a preset, a run relaunched)."""
    if isinstance(value, bool | str):
        return value
    return json.dumps(value)


def field_value(held: str | bool) -> Any:
    """A field's text back as the value it shows (for settings that have no field: kept as JSON)."""
    if isinstance(held, bool):
        return held
    try:
        return json.loads(held)
    except ValueError:
        return held


def resource_args_of(values: FormValues, options: Iterable[Option], resources: Iterable[str],
                     errors: dict[str, str]) -> dict[str, Any]:
    """The chosen resource's args: the JSON field's, then each option's field (errors keyed
    'resource_args' and 'resource:NAME')."""
    args: dict[str, Any] = {}
    if values.resource_args.strip():
        try:
            args = dict(parse_resource_args(values.resource_args, values.resource, resources)[values.resource])
        except ConfigError as error:
            errors["resource_args"] = str(error)
    declared = {option.name: option for option in options}
    for name, held in values.resource_fields.items():
        option = declared.get(name)
        if option is None:
            continue
        try:
            value = option_value(option, f"resource_args {values.resource}.{name}", held)
        except LaunchError as error:
            errors[f"resource:{name}"] = str(error)
            continue
        if value is None:
            continue
        if name in args:
            errors[f"resource:{name}"] = (f"resource args: {name} is set both here and in the JSON field "
                                          f"({args[name]!r}); keep one")
            continue
        args[name] = value
    return args


def to_settings(values: FormValues, parameter_types: dict[str, str], resources: Iterable[str] = (),
                options: Iterable[Option] = ()) -> dict[str, Any]:
    """merge_request keyword arguments; raises FormErrors for text that cannot even be parsed, and for
    resource option fields their declarations refuse. `resources`: the resource names, so that resource
    args keyed by one of them are recognised as such; `options`: the chosen resource's declared options."""
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
    args = resource_args_of(values, options, resources, errors)
    if args:
        settings["resource_args"] = {values.resource: args}
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


def from_settings(settings: Mapping[str, Any], entry_names: list[str] | None = None) -> FormValues:
    """Form values for merge_request settings (a preset). The chosen resource's args go to its option
    fields; the form puts those it has no field for into the JSON field."""
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
    values.resource_fields = {str(name): field_text(value) for name, value in (chosen or {}).items()}
    for key in TEXT_FIELDS:
        setattr(values, key, settings.get(key) or "")
    config = settings.get("config") or {}
    run_config: dict[str, Any] = {}
    run_config.update(config.get("parameters") or {})
    run_config.update((config.get("overrides") or {}).get("run_config") or {})
    values.config_text = format_config(run_config, values.config_format)
    return values


def settings_from_spec(spec: LaunchSpec) -> dict[str, Any]:
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


def pinned_version_hint(spec: LaunchSpec) -> str:
    """What a relaunch's pinned commit was named when the run was launched ('' when there is nothing to say)."""
    commit = (spec.source or {}).get("commit") if spec.job_kind == "git" else None
    if not commit or not spec.version or spec.version == commit:
        return ""
    return f"pinned to the commit the run ran; it was launched at {spec.version!r} (type that to run its latest commit)"


_CONFIG_VALUE = re.compile(r"config value '?([A-Za-z0-9_.-]+?)'?[= ]")
#: How a resource option's check names it: "resource_args local-container.memory ..."
_RESOURCE_OPTION = re.compile(r"resource_args [A-Za-z0-9_.-]+?\.([A-Za-z0-9_]+) ")
_KEYWORDS = (
    ("run_id", "run_id"), ("entry point", "entry"), ("entry_point", "entry"), ("docker_image", "docker_image"),
    ("docker image", "docker_image"), ("resource_args", "resource_args"), ("repository", "repository"),
    ("version", "version"), ("project", "project"), ("entity", "entity"), ("resource", "resource"),
    ("nothing to launch", "job"), ("job", "job"), ("name", "name"),
)


def field_for_error(error: LaunchError, params: list[str], options: Iterable[str] = ()) -> str | None:
    """The form field an engine error is about, judged from its type and the value its message names
    (`options`: the chosen resource's option names, each with its own field)."""
    message = str(error)
    if isinstance(error, ConfigError):
        match = _CONFIG_VALUE.search(message)
        if match and match.group(1) in params:
            return f"param:{match.group(1)}"
        return "config"
    if isinstance(error, JobError):
        return "job"
    if isinstance(error, ResourceError):
        option = _RESOURCE_OPTION.search(message)
        if option and option.group(1) in set(options):
            return f"resource:{option.group(1)}"
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
