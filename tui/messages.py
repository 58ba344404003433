"""The TUI's own messages, in one place (as toolong keeps its): what a widget or a thread tells the
screens above it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from tui.widgets.form.job_picker import JobPicker
    from tui.widgets.run_table import RunTable


class AgentEvent(Message):
    """Something the agent running in the app did (posted from its thread), with the time it happened."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class _RunMessage(Message):
    def __init__(self, table: RunTable, run_id: str | None) -> None:
        super().__init__()
        self.table = table
        self.run_id = run_id

    @property
    def control(self) -> RunTable:
        return self.table


class RunHighlighted(_RunMessage):
    """The run table's cursor moved to a run (run_id None: the table is empty)."""


class RunChosen(_RunMessage):
    """A run was chosen in the run table (enter, or a double click)."""


class JobResolved(Message):
    """The launch form's job field was looked up: `job` is the version it names, or None."""

    def __init__(self, picker: JobPicker, job: JobVersion | None) -> None:
        super().__init__()
        self.picker = picker
        self.job = job

    @property
    def control(self) -> JobPicker:
        return self.picker
