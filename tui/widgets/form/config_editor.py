"""The config editor: run config values as TOML or JSON (highlighted), switching format keeps the values."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, TextArea

from launcher.errors import LaunchError
from tui.form_model import format_config, parse_config_text
from tui.widgets.form.fields import field_error

FORMATS = (("TOML", "toml"), ("JSON", "json"))


class ConfigEditor(Vertical):
    DEFAULT_CSS = "ConfigEditor { height: auto; }"

    def compose(self) -> ComposeResult:
        with Horizontal(classes="config-head"):
            yield Label("Config (run config values)", classes="field-label")
            yield Select(FORMATS, value="toml", allow_blank=False, compact=True, id="config-format")
        yield TextArea.code_editor("", language="toml", id="config", soft_wrap=True)
        yield field_error("config")

    @property
    def editor(self) -> TextArea:
        return self.query_one("#config", TextArea)

    @property
    def format(self) -> str:
        return str(self.query_one("#config-format", Select).value)

    @property
    def text(self) -> str:
        return self.editor.text

    def show(self, text: str, kind: str) -> None:
        self.query_one("#config-format", Select).value = kind
        self.editor.language = kind
        self.editor.text = text

    def values(self) -> dict[str, Any]:
        """The values as parsed; raises ConfigError (a LaunchError) for text that does not parse."""
        return parse_config_text(self.text, self.format)

    def take_out(self, names: Collection[str]) -> None:
        """Remove these keys from the text (their values moved to their own fields); text that does not
        parse is left as it is."""
        try:
            values = self.values()
        except LaunchError:
            return
        self.editor.text = format_config({k: v for k, v in values.items() if k not in names}, self.format)

    @on(Select.Changed, "#config-format")
    def _format_changed(self, event: Select.Changed) -> None:
        new = str(event.value)
        old = "json" if new == "toml" else "toml"
        if self.editor.language == new:
            return
        try:
            self.editor.text = format_config(parse_config_text(self.editor.text, old), new)
        except LaunchError:
            pass  # keep the text as it is; launching will point at the problem
        self.editor.language = new
