"""The launcher's terminal UI. `launcher` with no arguments opens it through `run_app(api)`."""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from launcher.errors import LaunchError
from tui.commands import PresetCommands, binding_commands
from tui.screens.main import MainScreen

if TYPE_CHECKING:
    from launcher.agent import Agent
    from launcher.api import Api


class AgentEvent(Message):
    """Something the agent running in the app did (posted from its thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LauncherApp(App[int]):
    TITLE = "launcher"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    COMMANDS = App.COMMANDS | {PresetCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        # From the main screen only: elsewhere q closes the screen (its own binding), is typed, or does nothing.
        Binding("q", "quit_from_main", "Quit"),
    ]

    def __init__(self, api: Api, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api = api
        #: The agent this app runs (started from the queues screen), if any.
        self.agent: Agent | None = None
        #: How the app asked its agent to stop ("wait" or "stop"), None until it does.
        self.agent_stop_asked: str | None = None
        self.agent_events: deque[str] = deque(maxlen=500)
        #: The runs started from this app (form, presets); quitting offers to stop these and the agent's only.
        self.launched_runs: set[str] = set()
        #: Runs of this app whose failed start was announced (once each, whoever noticed it first).
        self.start_failures_told: set[str] = set()

    def tell_start_failed(self, run_id: str, message: str | None) -> None:
        """A run started from this app failed to start: say so once, as an error. A resource may fail the
        start after the launch returned (an image build in the run's supervisor), so the main screen also
        calls this when such a run's record turns start_failed."""
        if run_id in self.start_failures_told:
            return
        self.start_failures_told.add(run_id)
        self.notify(f"run {run_id} failed to start: {message or 'see its log'}", severity="error", timeout=10)

    def on_mount(self) -> None:
        self.sub_title = str(self.api.home)
        self.push_screen(MainScreen(self.api))

    def on_unmount(self) -> None:
        gc.unfreeze()  # the main screen froze its objects; give them back to the collector

    @property
    def main(self) -> MainScreen:
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    # -- command palette ------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("New launch", "open the launch form (n)", self.action_new_launch)
        main = self.main if any(isinstance(s, MainScreen) for s in self.screen_stack) else None
        selected = main.target_run_id if main is not None and main.is_mounted else None
        if selected is not None:
            yield SystemCommand(f"Relaunch run {selected}", "the launch form with this run's settings (r)",
                                lambda: self.action_relaunch(selected))
            yield SystemCommand(f"Cancel run {selected}", "stop the selected run, after a confirmation (c)",
                                lambda: self.action_cancel_run(selected))
            yield SystemCommand(f"Logs of run {selected}", "open the run's log in a tab (enter, l)",
                                lambda: self.action_open_logs(selected))
            yield SystemCommand(f"Details of run {selected}", "spec, timestamps, exit code (d)",
                                lambda: self.action_details(selected))
            yield SystemCommand(f"Copy run id {selected}", "to the clipboard (y)", lambda: self.action_copy_id(selected))
        yield SystemCommand("Queues", "queues, their items and the agent running in the app (Q)", self.action_queues)
        yield SystemCommand("Sweeps", "sweeps and their trials, best first (W)", self.action_sweeps)
        yield SystemCommand("Create a sweep from a TOML file", "job, method, parameters, metric, queue",
                            self.action_create_sweep)
        if self.agent_running and self.agent_stop_asked is None:
            yield SystemCommand("Stop the agent", "it stops taking items and waits for its runs (s in the queues "
                                "screen)", self.action_stop_agent)
        elif self.agent_running and self.agent_stop_asked != "stop":
            yield SystemCommand("Stop the agent's runs", f"the stopping agent waits for {self.agent_runs_text()}; "
                                "stop them now (s again in the queues screen)", self.action_stop_agent)
        elif not self.agent_running:
            yield SystemCommand("Start an agent", "take items from queues and launch them (a in the queues screen)",
                                self.action_start_agent)
        yield from getattr(screen, "screen_commands", lambda: ())()
        if main is not None:
            yield SystemCommand("Filter runs", "show runs containing some text (/)", main.action_filter)
        yield from binding_commands(screen)
        yield SystemCommand("Help", "every key binding (?)", self.action_help)
        yield SystemCommand("Quit launcher", "runs keep going unless you stop them (q)", self.action_quit)

    # -- queues, agent, sweeps -------------------------------------------------------------------------
    def action_queues(self) -> None:
        from tui.screens.queues import QueuesScreen

        if not isinstance(self.screen, QueuesScreen):
            self.push_screen(QueuesScreen(self.api))

    def action_sweeps(self) -> None:
        from tui.screens.sweeps import SweepsScreen

        if not isinstance(self.screen, SweepsScreen):
            self.push_screen(SweepsScreen(self.api))

    def action_create_sweep(self) -> None:
        from tui.screens.dialogs import TextPromptScreen

        def chosen(path: str | None) -> None:
            if path:
                self.create_sweep(path)

        self.push_screen(TextPromptScreen("Create a sweep from the TOML file:", placeholder="e.g. sweeps/lr.toml"), chosen)

    @work(thread=True, exit_on_error=False, group="sweeps")
    def create_sweep(self, path: str) -> None:
        from launcher.sweeps import create_sweep

        try:
            sweep = create_sweep(self.api, path)
        except LaunchError as error:
            self.call_from_thread(self.notify, str(error), severity="error", timeout=8)
            return
        except Exception as error:  # noqa: BLE001 - never a traceback in the UI
            self.call_from_thread(self.notify, f"sweep file {path}: {type(error).__name__}: {error}", severity="error")
            return
        from tui.screens.queues import unserved_note

        note = unserved_note(self.api, sweep["queue"])  # engine reads: this is a thread worker
        self.call_from_thread(self.notify, f"sweep {sweep['id']} ({sweep['name']}) created: {sweep['trials']} trial(s) "
                              f"queued on {sweep['queue']!r}{note}")
        self.call_from_thread(self._sweep_created, sweep["id"])

    def _sweep_created(self, sweep_id: str) -> None:
        from tui.screens.sweeps import SweepsScreen

        for screen in self.screen_stack:
            if isinstance(screen, SweepsScreen):
                screen.select_sweep(sweep_id)
                return
        self.push_screen(SweepsScreen(self.api, select=sweep_id))

    @property
    def agent_running(self) -> bool:
        from launcher.agent import AGENT_STOPPED

        return self.agent is not None and (self.agent.state != AGENT_STOPPED or not self.agent.join(0))

    def action_start_agent(self, queues: str = "default") -> None:
        from tui.screens.queue_dialogs import AgentStartScreen

        if self.agent_running:
            if self.agent_stop_asked is not None:
                self.notify(f"agent {self.agent.id} is still stopping: {self.agent_stopping_text()}",
                            severity="warning")
            else:
                self.notify(f"agent {self.agent.id} is already running in this app; stop it first (s)",
                            severity="warning")
            return

        def chosen(choice) -> None:
            if choice is not None:
                self.start_agent(choice.queues, choice.max_jobs)

        self.push_screen(AgentStartScreen(queues), chosen)

    @work(thread=True, exit_on_error=False, group="agent")
    def start_agent(self, queues: list[str], max_jobs: int) -> None:
        from launcher.agent import Agent

        try:
            agent = Agent(self.api, queues, max_jobs, on_stop="wait", on_event=self._agent_said)
        except LaunchError as error:
            self.call_from_thread(self.notify, str(error), severity="error", timeout=8)
            return
        self.agent = agent
        self.agent_stop_asked = None
        agent.start()

    def _agent_said(self, text: str) -> None:
        """Called in the agent's thread: never block it (the app may be closing)."""
        try:
            self.post_message(AgentEvent(f"{time.strftime('%H:%M:%S')}  {text}"))
        except RuntimeError:
            pass  # the app's event loop is gone

    def on_agent_event(self, event: AgentEvent) -> None:
        from tui.screens.queues import QueuesScreen

        self.agent_events.append(event.text)
        for screen in self.screen_stack:
            if isinstance(screen, QueuesScreen):
                screen.agent_event(event.text)
        if " failed: " in event.text:
            self.notify(event.text.split("  ", 1)[-1], severity="warning", timeout=6)

    def agent_runs_text(self) -> str:
        count = len(self.agent.active_runs()) if self.agent is not None else 0
        return f"{count} run(s)"

    def agent_stopping_text(self) -> str:
        """What a stopping agent is doing, and what the user can do about it."""
        if self.agent_stop_asked == "stop":
            return f"stopping its {self.agent_runs_text()}"
        return f"waiting for {self.agent_runs_text()} (s again stops them)"

    def stop_agent(self, on_stop: str) -> None:
        """Ask the app's agent to stop (on_stop: "wait", "leave" or "stop", see Agent.stop)."""
        if self.agent is not None:
            self.agent.stop(on_stop)
            self.agent_stop_asked = on_stop

    def action_stop_agent(self, on_stop: str | None = None) -> None:
        """s: the agent stops taking items and waits for its runs; s again while it waits: its runs stop."""
        if not self.agent_running:
            self.notify("no agent is running in this app", severity="warning", timeout=3)
            return
        agent = self.agent
        if self.agent_stop_asked == "stop":
            self.notify(f"agent {agent.id} is already stopping its {self.agent_runs_text()}", severity="warning",
                        timeout=3)
            return
        first = self.agent_stop_asked is None
        self.stop_agent(on_stop or ("wait" if first else "stop"))
        if self.agent_stop_asked == "stop":
            self.notify(f"agent {agent.id}: stopping its {self.agent_runs_text()}")
        elif agent.active_runs():
            self.notify(f"agent {agent.id} stops taking items; it waits for its {self.agent_runs_text()} "
                        "(s again stops them)")
        else:
            self.notify(f"agent {agent.id} stops taking items")

    # -- actions --------------------------------------------------------------------------------------
    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_new_launch(self, initial: dict[str, Any] | None = None, title: str = "Launch a run",
                          version_hint: str = "") -> None:
        from tui.screens.launch_form import LaunchForm

        self.push_screen(LaunchForm(self.api, initial, title=title, version_hint=version_hint), self._after_launch)

    def show_main(self) -> None:
        """Close every screen above the main one."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, MainScreen):
            self.pop_screen()

    def _after_launch(self, run_id: str | None) -> None:
        if run_id:
            self.launched_runs.add(run_id)
            record = self.main.table.records.get(run_id)  # the table may have its failed start already
            if record is not None and record.get("state") == "start_failed":
                self.tell_start_failed(run_id, record.get("message"))
            self.select_run(run_id)

    def select_run(self, run_id: str) -> None:
        """Show the run in the table (the filter cleared if it hides it, the "selected run" tab shown) once
        the table has it: it may arrive with the next poll."""
        if not self.main.select_run(run_id):
            self._refresh_and_select(run_id)

    @work(thread=True, exit_on_error=False, group="select")
    def _refresh_and_select(self, run_id: str) -> None:
        try:
            record = self.api.run(run_id).record
        except LaunchError:
            return
        self.call_from_thread(self._select_after_update, record)

    def _select_after_update(self, record: dict[str, Any]) -> None:
        if record.get("state") == "start_failed" and record["id"] in self.launched_runs:
            self.tell_start_failed(record["id"], record.get("message"))  # the table may never see it change
        self.main.table.apply_updates([record])
        self.main.select_run(record["id"])

    def action_relaunch(self, run_id: str) -> None:
        from tui.form_model import pinned_version_hint, settings_from_spec

        try:
            spec = self.api.run(run_id).spec
        except LaunchError as error:
            self.notify(str(error), severity="error")
            return
        self.action_new_launch(settings_from_spec(spec), title=f"Relaunch run {run_id}",
                               version_hint=pinned_version_hint(spec))

    def action_cancel_run(self, run_id: str) -> None:
        from tui.screens.dialogs import ConfirmScreen

        record = self.main.table.records.get(run_id)
        if record is not None and record["state"] not in ("starting", "running"):
            self.notify(f"run {run_id} is already {record['state']}", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(run_id)

        self.push_screen(ConfirmScreen(f"Cancel run {run_id}? Its program gets SIGTERM, then SIGKILL after the "
                                       "grace period.", yes="Cancel run"), answered)

    @work(thread=True, exit_on_error=False, group="cancel")
    def _cancel(self, run_id: str) -> None:
        try:
            self.api.run(run_id).cancel(wait=False)
        except LaunchError as error:
            self.call_from_thread(self.notify, str(error), severity="error")
            return
        self.call_from_thread(self.notify, f"stopping run {run_id} ...")

    async def action_open_logs(self, run_id: str) -> None:
        await self.main.open_logs(run_id)

    def action_details(self, run_id: str) -> None:
        from tui.screens.run_details import RunDetailsScreen

        self.push_screen(RunDetailsScreen(self.api, run_id))

    def action_copy_id(self, run_id: str) -> None:
        self.copy_to_clipboard(run_id)
        self.notify(f"copied run id {run_id}", timeout=2)

    # -- presets from the command palette -------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="launch")
    def launch_preset(self, name: str) -> None:
        from launcher.launching import submit
        from launcher.presets import load_preset
        from launcher.spec import merge_request

        try:
            run = submit(self.api, merge_request(**load_preset(name)))
        except LaunchError as error:
            self.call_from_thread(self.notify, f"preset {name!r}: {error}", severity="error", timeout=8)
            return
        except Exception as error:  # noqa: BLE001 - never a traceback in the UI
            self.call_from_thread(self.notify, f"preset {name!r}: {type(error).__name__}: {error}", severity="error")
            return
        self.launched_runs.add(run.id)
        self.call_from_thread(self.notify, f"run {run.id} launched from preset {name!r}")
        self.call_from_thread(self.select_run, run.id)

    def open_preset(self, name: str) -> None:
        from launcher.presets import load_preset

        try:
            settings = load_preset(name)
        except LaunchError as error:
            self.notify(str(error), severity="error")
            return
        self.action_new_launch(settings, title=f"Launch from preset {name}")

    # -- quitting -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit_from_main":
            return isinstance(self.screen, MainScreen)  # hidden and inactive on the other screens
        return True

    async def action_quit_from_main(self) -> None:
        if isinstance(self.screen, MainScreen):
            await self.action_quit()

    def own_runs(self) -> set[str]:
        """The runs this app started: its launches and its agent's runs."""
        own = set(self.launched_runs)
        if self.agent is not None:
            own.update(self.agent.active_runs())
        return own

    async def action_quit(self) -> None:
        try:
            active = [r["id"] for r in self.api.runs(active_only=True)]
        except LaunchError:
            active = []
        own = self.own_runs()
        mine = [run_id for run_id in active if run_id in own]
        elsewhere = len(active) - len(mine)
        agent = self.agent if self.agent_running else None
        if not mine:
            if agent is not None:
                self.stop_agent("wait")  # it has no active run: it ends at once
                self._stop_and_exit([], agent)
            else:
                self.exit(0)
            return
        from tui.screens.dialogs import QuitScreen

        def chosen(choice: str | None) -> None:
            if choice == "leave":
                if agent is not None:
                    self.stop_agent("leave")  # it takes no more items; its runs go on
                self.exit(0)
            elif choice == "stop":
                if agent is not None:
                    self.stop_agent("stop")
                self.notify(f"stopping {len(mine)} run(s) ...", timeout=3)
                self._stop_and_exit(mine, agent)

        self.push_screen(QuitScreen(mine, agent.id if agent is not None else None, elsewhere=elsewhere), chosen)

    @work(thread=True, exit_on_error=False, group="cancel")
    def _stop_and_exit(self, run_ids: list[str], agent: Agent | None = None) -> None:
        """Stop these runs (and wait for the agent), then exit; if any cannot be stopped, stay open and say
        why: the user decides what to do next (q again, or deal with the run)."""
        problems = []
        agents_runs = set(agent.active_runs()) if agent is not None else set()  # it stops those itself
        for run_id in run_ids:
            if run_id in agents_runs:
                continue
            try:
                self.api.run(run_id).cancel(wait=False)
            except LaunchError as error:
                problems.append(f"run {run_id}: {error}")
        if agent is not None and not agent.join(30):
            problems.append(f"agent {agent.id} did not stop within 30 s")
        if problems:
            self.call_from_thread(self.notify, "could not stop everything; the launcher stays open (q to quit): "
                                  + "; ".join(problems), severity="error", timeout=30)
            return
        self.call_from_thread(self.exit, 0)


def run_app(api: Api) -> int:
    """Open the TUI on this workspace; returns the process exit code."""
    app = LauncherApp(api)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
