"""The workspace's settings (`launcher settings`): the engine's own and those each resource declares, each
an Option (launcher/options.py), so a value is checked by the same rule a launch would apply to it, and
a bad one is refused with nothing stored rather than breaking every later launch."""

from __future__ import annotations

from typing import Any

from launcher.errors import LaunchError, SpecError
from launcher.options import Option, OptionKind
from launcher.workspace import Workspace


def _name(label: str, value: Any) -> str:
    from launcher.spec import NAME_PATTERN

    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise SpecError(f"{label} {value!r} is not valid; expected a name of letters, digits, '_', '.' or '-' "
                        "(starting with a letter or digit)")
    return value


CORE: tuple[Option, ...] = (
    Option("default_entity", OptionKind.CUSTOM, "entity of new jobs and job-less runs",
           default="your user name", checker=_name),
    Option("default_project", OptionKind.CUSTOM, "project of new jobs and job-less runs", default="default",
           checker=_name),
)


def declared() -> dict[str, Option]:
    """Every setting by name: the engine's own, then each resource's."""
    from launcher import runners

    options = {option.name: option for option in CORE}
    for name in runners.resource_names():
        for option in runners.get_runner(name).settings:
            options.setdefault(option.name, option)
    return options


def check_setting(key: str, value: Any) -> Any:
    options = declared()
    if key not in options:
        raise SpecError(f"setting {key!r} is not known; expected one of: {', '.join(options)}")
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"setting {key} {value!r} is not valid; expected a non-empty string")
    try:
        return options[key].check(f"setting {key}", value)
    except LaunchError as error:  # a resource's rule, refused as bad input like any other setting
        raise SpecError(str(error)) from None


def set_setting(workspace: Workspace, key: str, value: Any) -> None:
    """Store a setting after checking it (None clears it)."""
    if value is None:
        if key not in declared():
            raise SpecError(f"setting {key!r} is not known; expected one of: {', '.join(declared())}")
        workspace.store.delete_setting(key)
        return
    workspace.store.set_setting(key, check_setting(key, value))
