"""Dialogs for queues: where to queue the launch form's settings, and how to start an agent in the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from launcher.queue import DEFAULT_PRIORITY, DEFAULT_QUEUE, PRIORITIES
from tui.engine_calls import in_thread
from tui.screens.dialogs import DIALOG_CSS


@dataclass(frozen=True)
class QueueTarget:
    queue: str
    priority: str


@dataclass(frozen=True)
class AgentChoice:
    queues: list[str]
    max_jobs: int


class AcceptOrCancel(ModalScreen):
    """A dialog whose "accept" button (or key) calls action_accept and whose other button cancels."""

    def action_accept(self) -> None:
        raise NotImplementedError

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "accept":
            self.action_accept()
        else:
            self.dismiss(None)


class QueueTargetScreen(AcceptOrCancel, ModalScreen[QueueTarget | None]):
    """Choose the queue and priority for a launch; enter (or ctrl+s) queues it, escape goes back."""

    DEFAULT_CSS = "QueueTargetScreen { align: center middle; } QueueTargetScreen Select { margin-bottom: 1; }" + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel"), Binding("ctrl+s", "accept", "Queue it", priority=True)]

    def __init__(self, queues: list[str], queue: str = DEFAULT_QUEUE, priority: str = DEFAULT_PRIORITY) -> None:
        super().__init__()
        self.queues = queues
        self.queue = queue if queue in queues else (queues[0] if queues else DEFAULT_QUEUE)
        self.priority = priority
        #: Queues a running agent takes items from; None until known.
        self.served: set[str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Put this launch on a queue; an agent (in this app: Q, then a) launches it.")
            yield Label("Queue", classes="field-label")
            yield Select([(name, name) for name in self.queues], value=self.queue, allow_blank=False, id="queue")
            yield Static("", id="queue-hint", classes="problem")
            yield Label("Priority (first in, first out within one)", classes="field-label")
            yield Select([(p, p) for p in PRIORITIES], value=self.priority, allow_blank=False, id="priority")
            with Horizontal(classes="buttons"):
                yield Button("Queue it (ctrl+s)", variant="success", id="accept")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#queue-hint").display = False
        self._find_served_queues()

    def _find_served_queues(self) -> None:
        from tui.screens.queues import served_queues

        api = self.app.api
        # The hint is optional: the dialog works without it when the workspace cannot be read.
        in_thread(self, lambda: served_queues(api.queues.agents()), then=self._served_known,
                  failed=lambda error: None, group="queue-hint")

    def _served_known(self, served: set[str]) -> None:
        self.served = self.app.agent_control.served(served)
        self._show_queue_hint()

    @on(Select.Changed, "#queue")
    def _show_queue_hint(self) -> None:
        """Say so when no agent takes items from the chosen queue: they would wait there."""
        from tui.screens.queues import no_agent_text

        if self.served is None:
            return
        hint = self.query_one("#queue-hint", Static)
        chosen = str(self.query_one("#queue", Select).value)
        hint.display = chosen not in self.served
        hint.update(no_agent_text(chosen) if chosen not in self.served else "")

    def action_accept(self) -> None:
        self.dismiss(QueueTarget(str(self.query_one("#queue", Select).value),
                                 str(self.query_one("#priority", Select).value)))


def parse_agent_choice(queues_text: str, max_jobs_text: str) -> AgentChoice:
    """The dialog's text as an agent's settings; ValueError with a one-line reason when it is not valid."""
    queues = [name.strip() for name in queues_text.replace(",", " ").split() if name.strip()]
    if not queues:
        raise ValueError("name at least one queue, e.g. default")
    try:
        max_jobs = int(max_jobs_text.strip())
    except ValueError:
        raise ValueError(f"max jobs {max_jobs_text.strip()!r} is not a number; expected 1 or more, or -1 for no limit") from None
    if max_jobs == 0 or max_jobs < -1:
        raise ValueError(f"max jobs {max_jobs} is not valid; expected 1 or more, or -1 for no limit")
    return AgentChoice(queues, max_jobs)


class AgentStartScreen(AcceptOrCancel, ModalScreen[AgentChoice | None]):
    """Queues (space or comma separated) and max jobs for an agent run inside the app."""

    DEFAULT_CSS = "AgentStartScreen { align: center middle; } AgentStartScreen Input { margin-bottom: 1; }" + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel"), Binding("ctrl+s", "accept", "Start", priority=True)]

    def __init__(self, queues: str = "default", max_jobs: int = 2) -> None:
        super().__init__()
        self.queues = queues
        self.max_jobs = max_jobs

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Start an agent in this app: it takes items from its queues (round-robin) and "
                        "launches them, never more than max jobs at once.")
            yield Label("Queues", classes="field-label")
            yield Input(self.queues, placeholder="default, gpu", id="queues")
            yield Label("Max jobs (-1: no limit)", classes="field-label")
            yield Input(str(self.max_jobs), id="max-jobs")
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Start (enter)", variant="success", id="accept")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#problem").display = False

    @on(Input.Submitted)
    def action_accept(self) -> None:
        try:
            choice = parse_agent_choice(self.query_one("#queues", Input).value, self.query_one("#max-jobs", Input).value)
        except ValueError as error:
            problem = self.query_one("#problem", Static)
            problem.update(str(error))
            problem.display = True
            return
        self.dismiss(choice)

