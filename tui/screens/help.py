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


#: How the focus moves on the main screen (what tab and esc do there).
FOCUS_KEYS = [
    ("tab", "", "Run table -> log pane -> run table (shift+tab: backwards)"),
    ("esc", "", "In a log pane: back to the run table (closes its search box first); on the table: clear the filter"),
    ("left_square_bracket,right_square_bracket", "", "Previous / next log tab (the log of the focused tab gets the focus)"),
]


def help_sections() -> list[Table]:
    from tui.app import LauncherApp
    from tui.screens.launch_form import LaunchForm
    from tui.screens.main import MainScreen
    from tui.screens.queues import QueuesScreen
    from tui.screens.run_details import RunDetailsScreen
    from tui.screens.sweeps import SweepsScreen
    from tui.widgets.log_pane import LogPane
    from tui.widgets.log_view import LogView
    from tui.widgets.run_table import RunTable

    focus_actions = ("escape", "tab")
    return [
        bindings_table("Anywhere", [*[b for b in LauncherApp.BINDINGS if b.action != "quit_from_main"],
                                    ("ctrl+p", "", "Command palette: every action, launch a preset"),
                                    ("ctrl+q", "", "Quit from any screen (q quits from the main screen only)")]),
        bindings_table("Runs (main screen)", [
            *[b for b in MainScreen.BINDINGS if b.action != "slash" and not b.action.startswith(focus_actions)],
            *[b for b in RunTable.BINDINGS if not b.action.startswith("sort")],
            ("q", "", "Quit (runs started here: leave or stop them)"),
        ]),
        bindings_table("Focus (main screen)", FOCUS_KEYS),
        bindings_table("Sort the run table (again: reverse)",
                       [(b.key, "", b.description) for b in RunTable.BINDINGS if b.action.startswith("sort")]),
        bindings_table("Log pane (r, c, d, y act on its run)", [*LogPane.BINDINGS, *LogView.BINDINGS,
                                    ("up,pgup", "", "Scroll up (pauses follow; new lines are counted)")]),
        bindings_table("Launch form", [*LaunchForm.BINDINGS, ("tab", "", "Next field; in the job field, tab or → accepts a shown completion")]),
        bindings_table("Run details (d)", RunDetailsScreen.BINDINGS),
        bindings_table("Queues (Q)", [*QueuesScreen.BINDINGS,
                                      ("s", "", "Again, while the agent waits for its runs: stop them"),
                                      ("tab", "", "Between the queues and their items")]),
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
