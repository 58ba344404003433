"""What the form's sections share: labels, error lines under fields, widget ids, and an input whose Tab
accepts its suggestion."""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input, Label, Static

FIELD_LABELS = {
    "job": "Job", "version": "Version (git ref)", "entry": "Entry point", "command": "Command (argv)",
    "resource": "Resource", "resource_args": "Resource args (JSON)", "docker_image": "Docker image",
    "project": "Project", "entity": "Entity", "name": "Name", "run_id": "Run id", "repository": "Repository",
    "config": "Config",
}


class CompletingInput(Input):
    """An input whose Tab accepts the suggestion shown after the cursor, and moves focus when none is."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False)]

    @property
    def suggestion_shown(self) -> bool:
        return self.cursor_at_end and len(self._suggestion) > len(self.value)

    def action_complete(self) -> None:
        if self.suggestion_shown:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


def field_error(key: str) -> Static:
    """The line under a field where its error shows (hidden while there is none)."""
    return Static("", id=f"error-{key}", classes="field-error")


def labelled(key: str, widget: Widget, label: str | None = None) -> ComposeResult:
    """A field: its label, the widget, its error line."""
    yield Label(label or FIELD_LABELS[key], classes="field-label")
    yield widget
    yield field_error(key)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def param_id(name: str) -> str:
    """A widget id for a parameter's field (parameter names may hold characters ids may not)."""
    return "param-" + _safe(name)


def option_id(resource: str, name: str) -> str:
    """A widget id for a resource option's field (each resource has its own fields)."""
    return f"opt-{_safe(resource)}-{_safe(name)}"


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
