"""Typed fields for the parameters of the job's entry point (from its MLproject). A default is shown as
the placeholder, not filled in: only typed values are sent, so the version launched decides the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label

from tui.widgets.form.fields import as_text, field_error, param_id


class ParameterFields(Vertical):
    DEFAULT_CSS = "ParameterFields { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        #: The parameters shown: name -> their MLproject declaration (type, default).
        self.shown: Mapping[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Label("Parameters", id="params-title", classes="section")
        yield Vertical(id="params")

    def on_mount(self) -> None:
        self.query_one("#params-title").display = False

    @property
    def types(self) -> dict[str, str]:
        return {name: spec.get("type", "string") for name, spec in self.shown.items()}

    def values(self) -> dict[str, str]:
        """Parameter name -> the text typed in its field."""
        return {field.name or "": field.value for field in self.query("#params Input").results(Input)}

    async def show(self, parameters: Mapping[str, Any], kept: Mapping[str, str]) -> None:
        """Fields for these parameters; `kept`: texts to put in the fields of those that have them."""
        container = self.query_one("#params", Vertical)
        if parameters == self.shown:
            for name, text in kept.items():
                if name in parameters:
                    container.query_one(f"#{param_id(name)}", Input).value = text
            return
        self.shown = parameters
        await container.remove_children()
        widgets = []
        for name, spec in parameters.items():
            default = spec.get("default")
            widgets += [
                Label(f"{name} ({spec.get('type', 'string')})", classes="field-label"),
                Input(kept.get(name, ""), compact=True, name=name, id=param_id(name),
                      placeholder="required" if default is None else f"default: {as_text(default)}"),
                field_error(param_id(name)),
            ]
        await container.mount_all(widgets)
        self.query_one("#params-title").display = bool(parameters)
