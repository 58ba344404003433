"""The help screen: every key binding, read from the widgets and screens that declare them."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {"slash": "/", "left_square_bracket": "[", "right_square_bracket": "]", "question_mark": "?",
             "escape": "esc", "enter": "enter"}


def key_label(keys: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def bindings_table(title: str, bindings: list[Binding | tuple]) -> Table:
    table = Table(title=title, title_style="bold", title_justify="left", show_header=False, box=None,
                  padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, width=14)
    table.add_column()
    for binding in bindings:
        if isinstance(binding, tuple):
            keys, description = binding[0], binding[2] if len(binding) > 2 else binding[1]
        else:
            keys, description = binding.key, binding.description
        table.add_row(key_label(keys), description)
    return table


def help_sections() -> list[Table]:
    from tui.app import LauncherApp
    from tui.screens.launch_form import LaunchForm
    from tui.screens.main import MainScreen
    from tui.screens.queues import QueuesScreen
    from tui.screens.sweeps import SweepsScreen
    from tui.widgets.log_pane import LogPane
    from tui.widgets.log_view import LogView
    from tui.widgets.run_table import RunTable

    return [
        bindings_table("Anywhere", [*LauncherApp.BINDINGS, ("ctrl+p", "", "Command palette: every action, launch a preset")]),
        bindings_table("Runs", [*[b for b in MainScreen.BINDINGS if b.action != "slash"],  # the same `/`
                                *[b for b in RunTable.BINDINGS if not b.action.startswith("sort")],
                                (" ".join(b.key for b in RunTable.BINDINGS if b.action.startswith("sort")), "",
                                 "Sort by id, name, job, sweep, resource, state (lifecycle), start, duration, exit (again: reverse)")]),
        bindings_table("Log pane", [*LogPane.BINDINGS, *LogView.BINDINGS,
                                    ("up,pgup", "", "Scroll up (pauses follow; new lines are counted)")]),
        bindings_table("Launch form", [*LaunchForm.BINDINGS, ("tab", "", "Next field; → accepts a job completion")]),
        bindings_table("Queues (Q)", [*QueuesScreen.BINDINGS, ("tab", "", "Between the queues and their items")]),
        bindings_table("Sweeps (W)", [*SweepsScreen.BINDINGS, ("tab", "", "Between the sweeps and their trials")]),
    ]


class HelpScreen(ModalScreen):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; max-height: 90%; height: auto; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("launcher: keys (escape closes)", style="bold"))
            for table in help_sections():
                yield Static(table)
