"""The dialog that saves a run's log: a file name, and whether each line carries its timestamp and its
stream marker. The launcher's own notes are always kept."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label

from tui.screens.dialogs import SaveLogScreen


@dataclass(frozen=True)
class SaveRequest:
    path: str
    timestamps: bool = False
    markers: bool = False


class SaveLogDialog(SaveLogScreen):
    """Enter in the file name saves; space toggles a focused checkbox; escape cancels."""

    DEFAULT_CSS = "SaveLogDialog Checkbox { border: none; padding: 0; margin-bottom: 1; }"

    def __init__(self, run_id: str, *, timestamps: bool = False, markers: bool = False) -> None:
        super().__init__(run_id)
        self.timestamps = timestamps
        self.markers = markers

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt)
            yield Input(self.value, placeholder=self.placeholder)
            yield Checkbox("timestamps (UTC, as the log file has them)", self.timestamps, id="save-timestamps")
            yield Checkbox("stream markers (O stdout, E stderr, L the launcher's notes)", self.markers,
                           id="save-markers")
            yield Label("Without markers the launcher's notes are kept as [launcher] lines, as `launcher logs` "
                        "prints them.", markup=False)

    @on(Input.Submitted)
    def _submitted_with_options(self, event: Input.Submitted) -> None:
        event.prevent_default()  # the plain prompt's handler would dismiss with the file name alone
        path = event.value.strip()
        if not path:
            self.dismiss(None)
            return
        self.dismiss(SaveRequest(path, self.query_one("#save-timestamps", Checkbox).value,
                                 self.query_one("#save-markers", Checkbox).value))
