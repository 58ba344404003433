"""Command palette: launch a preset straight from it, and every key binding of the focused widgets (the
log pane's modes, the run table's sorts, the screen's tab keys) as a command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial

from textual.app import SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen

#: Cursor and scrolling keys: commands for them would only clutter the palette.
NAVIGATION_ACTIONS = frozenset({"cursor", "page", "first", "last", "select", "scroll_home", "scroll_end",
                                "clear_filter", "escape", "app.pop_screen", "complete"})
#: What a command does, in the user's words, by action name (the palette shows it under the title).
ACTION_HELP = {
    "close_tab": "close the pinned log tab shown",
    "tab": "switch between the log tabs below the run table",
    "slash": "filter the runs, or search the log when a log pane has the focus",
    "search": "find text in this run's log",
    "next_match": "jump to the next line with the searched text",
    "previous_match": "jump to the previous line with the searched text",
    "only_matches": "show only the lines with the searched text, or every line again",
    "wrap": "wrap long log lines, or cut them at the pane's edge",
    "timestamps": "show when each log line was written",
    "toggle_follow": "keep showing new lines as they come, or stay where you are",
    "follow": "jump to the end of the log and follow new lines",
    "save": "write the run's whole log to a file",
    "sort": "sort the run table on this column (again: reverse)",
}
#: Where a binding acts, for the widgets and screens whose actions have no entry above.
PLACES = {"LogPane": "in the log pane", "LogView": "in the log pane", "RunTable": "in the run table",
          "MainScreen": "on the main screen", "RunDetailsScreen": "in the run details"}
#: Actions of the main screen that the app already offers with the selected run's id in their title.
COVERED_ACTIONS = frozenset({"app.new_launch", "relaunch_selected", "cancel_selected", "logs_selected",
                             "details_selected", "copy_selected", "filter", "app.queues", "app.sweeps",
                             "app.create_sweep"})


def _action_name(action: str) -> str:
    return action.split("(", 1)[0]


def binding_commands(screen: Screen) -> Iterator[SystemCommand]:
    """One command per key binding of the focused widget and the widgets around it (the launcher's own
    widgets, not Textual's inputs), then of the screen: those of its actions that its own commands
    (`screen_commands`, with the selection in their titles) do not already offer or deliberately withhold."""
    chain: list[DOMNode] = []
    node: DOMNode | None = screen.focused
    while node is not None and node is not screen:
        if type(node).__module__.startswith("tui."):
            chain.append(node)
        node = node.parent
    chain.append(screen)
    own = screen_command_actions(screen)
    seen: set[str] = set()
    for owner in chain:
        for binding in owner.BINDINGS:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            name = _action_name(binding.action)
            if name in NAVIGATION_ACTIONS or binding.action in COVERED_ACTIONS or binding.description in seen:
                continue
            if owner is screen and name in own:
                continue
            seen.add(binding.description)
            key = screen.app.get_key_display(binding)
            yield SystemCommand(binding.description, f"{describe(name, owner)} ({key})",
                                partial(owner.run_action, binding.action))


def screen_command_actions(screen: Screen) -> set[str]:
    """The actions a screen's own commands offer (their callbacks' names), and those it names in
    SCREEN_COMMAND_ACTIONS: offered only when they apply (e.g. not "Cancel sweep" for an ended sweep)."""
    listed = getattr(screen, "screen_commands", None)
    if listed is None:
        return set()
    names = set(getattr(screen, "SCREEN_COMMAND_ACTIONS", ()))
    for command in listed():
        callback_name = getattr(command.callback, "__name__", "")
        if callback_name.startswith("action_"):
            names.add(callback_name.removeprefix("action_"))
    return names


def describe(action_name: str, owner: DOMNode) -> str:
    """A command's help line: what it does, else where it acts; never a class name."""
    return ACTION_HELP.get(action_name) or _where(owner)


def _where(owner: DOMNode) -> str:
    name = type(owner).__name__
    if name in PLACES:
        return PLACES[name]
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()  # "SweepsScreen" -> "sweeps screen"
    return f"in the {words}"


class PresetCommands(Provider):
    async def startup(self) -> None:
        worker = self.app.run_worker(_read_presets, thread=True, exit_on_error=False)
        await worker.wait()
        self.presets, self.problems = worker.result or ([], [])

    def _hits(self):
        for name in self.presets:
            yield f"Launch preset: {name}", partial(self.app.launch_preset, name), "start a run with this preset's settings"
            yield f"Open preset in form: {name}", partial(self.app.open_preset, name), "edit the preset's settings, then launch"

    async def discover(self) -> Hits:
        for title, callback, help_text in self._hits():
            yield DiscoveryHit(title, callback, help=help_text)
        for problem in self.problems:
            yield DiscoveryHit(f"preset problem: {problem}", _nothing, help="fix or delete the file")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._hits():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
        if not about_presets(query):
            return  # a problem's text (a path, an error) would match almost any query and clutter the list
        for problem in self.problems:
            title = f"preset problem: {problem}"
            yield Hit(max(matcher.match(title), 0.5), matcher.highlight(title), _nothing, help="fix or delete the file")


def about_presets(query: str) -> bool:
    """True for queries that ask about presets: 'preset', 'presets', 'pres', 'preset problem' ..."""
    text = query.strip().lower()
    return "preset" in text or (len(text) >= 3 and "preset".startswith(text))


def _nothing() -> None:
    """A preset problem is information only."""


def _read_presets() -> tuple[list[str], list[str]]:
    from launcher.presets import list_presets

    presets, problems = list_presets()
    return [p.name for p in presets], [str(p) for p in problems]
