"""Typed option declarations: a runner's resource_args and a workspace's settings are declared once, as
Options, and everything else is generated from them: the checks a launch makes, the CLI's help, and the
launch form's fields for that resource.

Values from outside are checked here the same way wherever they come from (API, CLI, presets, queue
items, sweep files): numbers are real numbers (never bool), finite and within their stated bounds."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from launcher.errors import ResourceError

#: The longest grace period anything accepts: a day.
MAX_GRACE_SECONDS = 86_400.0


class OptionKind(StrEnum):
    TEXT = "text"
    #: A non-negative duration in seconds.
    SECONDS = "seconds"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    #: A mapping of names to text values (environment variables, labels).
    NAMES_TO_TEXT = "names_to_text"
    LIST_OF_TEXT = "list_of_text"
    #: Anything the option's own checker accepts (volumes, mounts, sizes ...).
    CUSTOM = "custom"


@dataclass(frozen=True)
class Option:
    name: str
    kind: OptionKind
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    #: What a value looks like (help text and form placeholders), when the default does not show it.
    example: str | None = None
    #: For CUSTOM options: (label, value) -> the checked value; raises a LaunchError naming the label.
    checker: Callable[[str, Any], Any] | None = None

    def check(self, label: str, value: Any) -> Any:
        """The value, checked (and normalised: ints stay ints, text is stripped); raises ResourceError
        with one line naming `label` (e.g. "resource_args local-process.grace_period" or "setting
        base_image"), the value and what is expected."""
        kind = self.kind
        if kind is OptionKind.CUSTOM:
            assert self.checker is not None, self.name
            return self.checker(label, value)
        if kind is OptionKind.BOOLEAN:
            if not isinstance(value, bool):
                raise self.error(label, value)
            return value
        if kind in (OptionKind.SECONDS, OptionKind.NUMBER, OptionKind.INTEGER):
            return self._number(label, value)
        if kind is OptionKind.TEXT:
            if not isinstance(value, str) or not value.strip() or value.strip().startswith("-"):
                raise self.error(label, value)
            return value.strip()
        if kind is OptionKind.CHOICE:
            if value not in self.choices:
                raise self.error(label, value)
            return value
        if kind is OptionKind.NAMES_TO_TEXT:
            if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and k and isinstance(v, str | int | float) and not isinstance(v, bool)
                    and _finite(v) for k, v in value.items()):
                raise self.error(label, value)
            return {k: str(v) for k, v in value.items()}
        if kind is OptionKind.LIST_OF_TEXT:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
                raise self.error(label, value)
            return [v.strip() for v in value]
        raise AssertionError(kind)

    def _number(self, label: str, value: Any) -> int | float:
        integer = self.kind is OptionKind.INTEGER
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            raise self.error(label, value)
        if not _finite(value):
            raise self.error(label, value)
        low = 0.0 if self.kind is OptionKind.SECONDS and self.minimum is None else self.minimum
        if (low is not None and value < low) or (self.maximum is not None and value > self.maximum):
            raise self.error(label, value)
        return value

    def error(self, label: str, value: Any) -> ResourceError:
        return ResourceError(f"{label} {value!r} is not valid; expected {self.expectation()}")

    def expectation(self) -> str:
        """What a valid value is, in words (errors, CLI help)."""
        kind = self.kind
        bounds = _bounds(0.0 if kind is OptionKind.SECONDS and self.minimum is None else self.minimum, self.maximum)
        if kind is OptionKind.SECONDS:
            return f"a number of seconds{bounds}"
        if kind is OptionKind.NUMBER:
            return f"a number{bounds}"
        if kind is OptionKind.INTEGER:
            return f"a whole number{bounds}"
        if kind is OptionKind.BOOLEAN:
            return "true or false"
        if kind is OptionKind.CHOICE:
            return "one of: " + ", ".join(self.choices)
        if kind is OptionKind.NAMES_TO_TEXT:
            return "a mapping of names to string values"
        if kind is OptionKind.LIST_OF_TEXT:
            return "a list of strings"
        if kind is OptionKind.TEXT:
            return "a non-empty string"
        return self.example or "see the help"

    def describe(self) -> str:
        """One line of help: name, what it takes, its default."""
        default = "" if self.default is None else f" (default: {self.default})"
        example = f", e.g. {self.example}" if self.example else ""
        if self.kind is OptionKind.CUSTOM:  # its own checker says what it takes: the example shows it
            return f"{self.name}: {self.help}{example}{default}"
        return f"{self.name}: {self.help}; {self.expectation()}{example}{default}"


def check_options(where: str, options: tuple[Option, ...], values: Any) -> dict[str, Any]:
    """Every value checked by its declaration; unknown keys refused with the known ones listed."""
    if not isinstance(values, Mapping):
        raise ResourceError(f"resource_args[{where!r}] must be a mapping, got {values!r}")
    known = {option.name: option for option in options}
    unknown = sorted(str(key) for key in values if key not in known)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise ResourceError(f"unknown resource_args key{'s' if len(unknown) > 1 else ''} {names} for {where}; "
                            f"expected one of: {', '.join(known) or 'none'}")
    return {key: known[key].check(f"resource_args {where}.{key}", value) for key, value in values.items()}


def check_grace_period(value: Any, where: str = "grace period") -> float:
    """A grace period from anywhere (cancel --grace, run.cancel(grace_period=...)): finite, 0 to a day."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value) \
            or not 0 <= value <= MAX_GRACE_SECONDS:
        from launcher.errors import SpecError

        raise SpecError(f"{where} {value!r} is not valid; expected a number of seconds from 0 to "
                        f"{MAX_GRACE_SECONDS:g}")
    return float(value)


def grace_option(default: float = 10.0) -> Option:
    return Option("grace_period", OptionKind.SECONDS, "on cancel, seconds between SIGTERM and SIGKILL",
                  default=default, maximum=MAX_GRACE_SECONDS)


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" >= {low:g}"
    if high is not None:
        return f" <= {high:g}"
    return ""
