"""Keys typed quickly after `/` land in the box it opens, and the command palette offers every binding of
the focused widgets (log pane modes, table sorts, tabs) while preset problems stay out of other searches."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from launcher.presets import presets_dir
from launcher.spec import merge_request
from tests.tui.conftest import drive, until
from tui.app import LauncherApp
from tui.commands import PresetCommands
from tui.screens.main import MainScreen
from tui.widgets.log_pane import LogPane


async def main_screen(pilot) -> MainScreen:
    return await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen) and pilot.app.screen.loaded_at
                       and pilot.app.screen, what="the main screen")


CHARACTERS = {"slash": "/", "enter": "\r", "space": " "}


def type_at_once(app, *keys: str) -> None:
    """Queue every key before the app handles the first, as a fast typist (or a paste) does: what the
    terminal driver does for each key, with no wait in between (pilot.press waits for the app each time)."""
    for key in keys:
        event = events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None))
        event.set_sender(app)
        app._driver.send_message(event)


def palette(app) -> dict[str, object]:
    return {command.title: command for command in app.get_system_commands(app.screen)}


def test_keys_typed_right_after_slash_go_to_the_filter_and_the_search(workspace, code_job) -> None:
    workspace.runs.submit(merge_request(job="trainer", entry_point=["python", "train.py", "5"], run_id="nx83",
                                    name="fast")).wait(timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        main.table.focus()
        await pilot.pause()
        # `n` would open the launch form and `x` close a tab if they reached the main screen.
        type_at_once(app, "slash", "n", "x", "8", "3", "enter")
        box = main.query_one("#filter", Input)
        await until(pilot, lambda: main.table.has_focus and box.value == "nx83", what="the filter to take the keys")
        assert app.screen is main and main.table.visible_run_ids == ["nx83"]

        pane = main.query_one("#pane-selected", LogPane)
        await until(pilot, lambda: pane.run_id == "nx83" and pane.state == "finished" and not pane.busy)
        pane.view.focus()
        await pilot.pause()
        # In the log pane, `n` jumps to the next match, `w` wraps, `t` shows timestamps.
        type_at_once(app, "slash", "s", "t", "e", "p", "space", "3", "enter")
        await until(pilot, lambda: pane.view.has_focus and pane.view.search == "step 3", what="the search term")
        assert not pane.view.wrap and not pane.view.timestamps

    drive(app, scenario)


def test_palette_offers_the_focused_widgets_bindings(workspace, code_job) -> None:
    workspace.runs.submit(merge_request(job="trainer", entry_point=["python", "train.py", "2"], run_id="pal")).wait(
        timeout=60)
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        main = await main_screen(pilot)
        main.table.focus()
        await pilot.pause()
        titles = set(palette(app))
        for title in ("Sort by id", "Sort by name", "Sort by job", "Sort by sweep", "Sort by state",
                      "Sort by start time", "Sort by duration", "Sort by exit code", "Next tab", "Previous tab",
                      "Close tab"):
            assert title in titles, title
        assert "Wrap" not in titles  # the log pane's modes belong to the log pane

        pane = main.query_one("#pane-selected", LogPane)
        await until(pilot, lambda: pane.run_id == "pal" and not pane.busy)
        pane.view.focus()
        await pilot.pause()
        commands = palette(app)
        for title in ("Search log", "Next match", "Previous match", "Only matches", "Wrap", "Timestamps", "Follow",
                      "Save log", "Next tab", "Previous tab", "Close tab"):
            assert title in commands, title
        assert "Sort by id" not in commands

        # Picking one runs the binding's action on its widget (the palette calls the command's callback).
        await commands_call(commands["Wrap"])
        assert pane.view.wrap

        main.table.focus()
        await pilot.pause()
        await commands_call(palette(app)["Sort by state"])
        assert main.table.sort_column == "state"

    async def commands_call(command) -> None:
        result = command.callback()
        if result is not None:
            await result

    drive(app, scenario)


def test_preset_problems_show_in_the_default_list_and_only_for_preset_queries(workspace, config_dir) -> None:
    folder = presets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.toml").write_text("job = [unclosed\n")
    (folder / "good.toml").write_text('job = "trainer"\n')
    app = LauncherApp(workspace)

    async def scenario(pilot) -> None:
        await main_screen(pilot)
        provider = PresetCommands(app.screen)
        await provider.startup()
        assert provider.problems and provider.presets == ["good"]

        async def titles(hits) -> list[str]:
            return [str(getattr(hit, "text", None) or hit.display) async for hit in hits]

        listed = await titles(provider.discover())
        assert any("preset problem" in title and "broken.toml" in title for title in listed)
        for query in ("wrap", "sort", "tab", "log", "o"):
            assert not any("problem" in t for t in await titles(provider.search(query))), query
        for query in ("preset", "presets", "pres", "preset problem"):
            assert any("broken.toml" in t for t in await titles(provider.search(query))), query

    drive(app, scenario)
