"""Small modal dialogs: confirm a cancel, quit with active runs, a file path, a preset name, a preset choice."""

from __future__ import annotations

import os

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

DIALOG_CSS = """
.dialog { width: 72; height: auto; max-height: 80%; padding: 1 2; border: thick $primary; background: $surface; }
.dialog > Label { width: 100%; margin-bottom: 1; }
.dialog .buttons { height: auto; align-horizontal: right; }
.dialog Button { margin-left: 1; }
.dialog .problem { color: $error; }
"""


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no; `y` confirms, `n` or escape declines."""

    DEFAULT_CSS = "ConfirmScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class QuitScreen(ModalScreen[str]):
    """Runs started from this app are still active: leave them running, stop them, or stay. Runs started
    elsewhere (the CLI, a separate agent) are only counted: quitting never touches them."""

    DEFAULT_CSS = "QuitScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS = [Binding("l", "choose('leave')", "Leave running"), Binding("s", "choose('stop')", "Stop them"),
                Binding("escape,c", "choose('stay')", "Cancel")]

    def __init__(self, active: list[str], agent: str | None = None, *, elsewhere: int = 0) -> None:
        super().__init__()
        #: The active runs this app started (its launches, its agent's runs).
        self.active = active
        self.agent = agent
        #: How many other runs of the workspace are active (left alone either way).
        self.elsewhere = elsewhere

    def compose(self) -> ComposeResult:
        shown = ", ".join(self.active[:8]) + (" ..." if len(self.active) > 8 else "")
        agent = (f"\n\nThe agent running in this app ({self.agent}) stops taking items either way; "
                 "stopping also stops its runs." if self.agent else "")
        elsewhere = (f"\n\n{self.elsewhere} other run(s) active in this workspace, started elsewhere (the CLI, "
                     "another launcher or agent), are left alone either way." if self.elsewhere else "")
        with Vertical(classes="dialog"):
            yield Label(f"{len(self.active)} run(s) started from this app still active: {shown}\n\n"
                        "Leave them running (they keep going and show up when you reopen the launcher), "
                        f"stop them, or stay?{agent}{elsewhere}", id="quit-question")
            with Horizontal(classes="buttons"):
                yield Button("Leave running (l)", variant="primary", id="leave")
                yield Button("Stop them (s)", variant="error", id="stop")
                yield Button("Cancel (esc)", id="stay")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "stay")


class TextPromptScreen(ModalScreen[str | None]):
    """One line of text; enter accepts, escape gives None."""

    DEFAULT_CSS = "TextPromptScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, prompt: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt)
            yield Input(self.value, placeholder=self.placeholder)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class SaveLogScreen(TextPromptScreen):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"Save the full log of run {run_id} to:", os.path.join(os.getcwd(), f"{run_id}.log"))


class PresetPickScreen(ModalScreen[str | None]):
    """Choose a preset; files that are not valid presets are listed with their problem."""

    DEFAULT_CSS = "PresetPickScreen { align: center middle; } PresetPickScreen OptionList { height: auto; max-height: 16; }" + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, names: list[str], problems: list[str]) -> None:
        super().__init__()
        self.names = names
        self.problems = problems

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Load a preset (enter) - escape to cancel" if self.names else "There are no presets yet.")
            yield OptionList(*[Option(name, id=name) for name in self.names])
            for problem in self.problems:
                yield Label(problem, classes="problem")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
