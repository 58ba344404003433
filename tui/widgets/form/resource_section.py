"""The resource section: which resource runs the launch, whether it can be used here, and a field for each
option the resource's runner declares (api.resource_options), made from the declaration: a choice is a
select, a true/false option a checkbox, anything else a line of text with an example or the default as
its placeholder. A JSON field takes any resource args at once, as the CLI's -R does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from launcher.errors import LaunchError
from launcher.options import OptionKind
from tui.form_model import field_value, parse_resource_args
from tui.widgets.form.fields import as_text, field_error, labelled, option_id

if TYPE_CHECKING:
    from launcher.options import Option


class ResourceStatus(Protocol):
    """What api.resources() says of each resource."""

    name: str
    available: bool
    #: Why it cannot be used here, when it cannot.
    reason: str | None


NUMBER_INPUTS = {OptionKind.NUMBER: "number", OptionKind.SECONDS: "number", OptionKind.INTEGER: "integer"}


def placeholder(option: Option) -> str:
    if option.example is not None:
        return f"e.g. {option.example}"
    if option.default is not None:
        return f"default: {as_text(option.default)}"
    return option.expectation()  # e.g. "a number from 0 to 1e+06": what it takes, when nothing shows it


def help_text(option: Option) -> str:
    """What the option does, and its default when its field cannot show it."""
    if option.kind is OptionKind.CHOICE and option.default is not None and option.default not in option.choices:
        return f"{option.help}; default: {option.default}"
    return option.help


def option_widget(resource: str, option: Option) -> Widget:
    """The field for one declared option."""
    widget_id = option_id(resource, option.name)
    if option.kind is OptionKind.CHOICE:
        # A default that is a rule rather than a choice ("venv when ..., else current") is told in the help.
        prompt = f"default: {option.default}" if option.default in option.choices else "default"
        return Select([(choice, choice) for choice in option.choices], prompt=prompt, allow_blank=True,
                      compact=True, id=widget_id, tooltip=option.help)
    if option.kind is OptionKind.BOOLEAN:
        return Checkbox("", value=bool(option.default), compact=True, id=widget_id, tooltip=option.help)
    return Input(compact=True, id=widget_id, placeholder=placeholder(option), tooltip=option.help,
                 type=NUMBER_INPUTS.get(option.kind, "text"), valid_empty=True)  # type: ignore[arg-type]


class OptionFields(Vertical):
    """The fields of one resource's options: one row each (name, field, what it does), its error under it."""

    DEFAULT_CSS = "OptionFields { height: auto; }"

    def __init__(self, resource: str, options: tuple[Option, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.options = options

    def compose(self) -> ComposeResult:
        for option in self.options:
            with Horizontal(classes="option-row"):
                yield Label(option.name, classes="option-name")
                yield option_widget(self.resource, option)
                yield Static(help_text(option), classes="option-help")
            yield field_error(option_id(self.resource, option.name))

    def _field(self, option: Option) -> Widget:
        return self.query_one(f"#{option_id(self.resource, option.name)}")

    def values(self) -> dict[str, str | bool]:
        """Option name -> what its field holds (text, or True/False for a checkbox)."""
        held: dict[str, str | bool] = {}
        for option in self.options:
            field = self._field(option)
            if isinstance(field, Checkbox):
                held[option.name] = field.value
            elif isinstance(field, Select):
                held[option.name] = field.value if isinstance(field.value, str) else ""
            elif isinstance(field, Input):
                held[option.name] = field.value
        return held

    def show(self, held: Mapping[str, str | bool]) -> dict[str, str | bool]:
        """Put these values in their fields (the others back to empty, or their default); returns those
        that have no field here."""
        for option in self.options:
            field = self._field(option)
            value = held.get(option.name)
            if isinstance(field, Checkbox):
                field.value = value if isinstance(value, bool) else bool(option.default)
            elif isinstance(field, Select):
                choice = value if isinstance(value, str) else ""
                field.value = choice if choice in option.choices else Select.NULL
            elif isinstance(field, Input):
                field.value = "" if value is None else as_text(value)
        names = {option.name for option in self.options}
        return {name: value for name, value in held.items() if name not in names}


class ResourceSection(Vertical):
    DEFAULT_CSS = "ResourceSection { height: auto; } ResourceSection #resource-options { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.statuses: list[ResourceStatus] = []
        self.options: dict[str, tuple[Option, ...]] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(classes="pair"):
            with Vertical():
                yield from labelled("resource", Select([("local-process", "local-process")], allow_blank=False,
                                                       compact=True, id="resource"))
            with Vertical():
                yield from labelled("resource_args", Input(compact=True, id="resource_args",
                                                           placeholder='as -R takes them, e.g. {"env": {"SEED": "1"}}'))
        yield Static("", id="resource-hint", classes="hint")
        yield Vertical(id="resource-options")

    # -- what the form reads --------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [status.name for status in self.statuses]

    @property
    def resource(self) -> str:
        return str(self.query_one("#resource", Select).value or "")

    @property
    def args_text(self) -> str:
        return self.query_one("#resource_args", Input).value

    def status(self, name: str) -> ResourceStatus | None:
        return next((status for status in self.statuses if status.name == name), None)

    def chosen_options(self) -> tuple[Option, ...]:
        return self.options.get(self.resource, ())

    def field_values(self) -> dict[str, str | bool]:
        group = self._group(self.resource)
        return group.values() if group is not None else {}

    def error_key(self, name: str) -> str:
        """The key of a chosen resource option's error line."""
        return option_id(self.resource, name)

    # -- filling --------------------------------------------------------------------------------------
    async def set_resources(self, statuses: list[ResourceStatus], options: dict[str, tuple[Option, ...]]) -> None:
        self.statuses = statuses
        self.options = options
        select = self.query_one("#resource", Select)
        select.set_options([(s.name if s.available else f"{s.name} (unavailable)", s.name) for s in statuses])
        unavailable = [f"{s.name}: {s.reason}" for s in statuses if not s.available]
        hint = self.query_one("#resource-hint", Static)
        hint.update("unavailable here: " + "; ".join(unavailable))
        hint.display = bool(unavailable)
        await self.show_fields(self.resource)

    async def fill(self, resource: str, held: Mapping[str, str | bool], args_text: str) -> None:
        """Choose the resource (one of `names`) and put these values in its fields; values it has no field
        for go to the JSON field, with what it held."""
        self.query_one("#resource", Select).value = resource
        await self.show_fields(resource)
        group = self._group(resource)
        rest = group.show(held) if group is not None else dict(held)
        text = args_text
        if rest:
            try:
                given = parse_resource_args(args_text, resource, self.names)[resource] if args_text.strip() else {}
            except LaunchError:
                given = None  # text that does not parse stays as it is, for its error to show
            if given is not None:
                text = json.dumps({**{name: field_value(value) for name, value in rest.items()}, **given})
        self.query_one("#resource_args", Input).value = text

    @on(Select.Changed, "#resource")
    async def _resource_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            await self.show_fields(event.value)

    async def show_fields(self, resource: str) -> None:
        """Show the fields of this resource's options (made the first time), and only those."""
        box = self.query_one("#resource-options", Vertical)
        for group in box.query(OptionFields):
            group.display = group.resource == resource
        if self._group(resource) is None and self.options.get(resource):
            await box.mount(OptionFields(resource, self.options[resource], id=f"options-{option_id(resource, '')}"))

    def _group(self, resource: str) -> OptionFields | None:
        return next((g for g in self.query(OptionFields) if g.resource == resource), None)
