"""The launcher's terminal UI. `launcher` with no arguments opens it through `run_app(api)`."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from launcher.states import RunState
from tui.agent_control import AgentControl, NextStep, Notice, StopMode
from tui.commands import PresetCommands, binding_commands
from tui.engine_calls import in_thread
from tui.messages import AgentEvent
from tui.screens.main import MainScreen

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import RunRecord, SweepRecord


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
        self.agent_control = AgentControl(api, on_event=self._agent_said)
        #: The runs started from this app (form, presets); quitting offers to stop these and the agent's only.
        self.launched_runs: set[str] = set()
        #: Runs of this app whose failed start was announced (once each, whoever noticed it first).
        self.start_failures_told: set[str] = set()

    def tell(self, notice: Notice) -> None:
        self.notify(notice.text, severity=notice.severity)

    def tell_start_failed(self, run_id: str, message: str | None) -> None:
        """A run started from this app failed to start: say so once, as an error. A resource may fail the
        start after the launch returned (an image build by the run's owner), so the main screen also
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
        step = self.agent_control.next_step()
        if step is NextStep.STOP:
            yield SystemCommand("Stop the agent", "it stops taking items and waits for its runs (s in the queues "
                                "screen)", self.action_stop_agent)
        elif step is NextStep.STOP_RUNS:
            yield SystemCommand("Stop the agent's runs", f"the stopping agent waits for "
                                f"{self.agent_control.runs_text()}; stop them now (s again in the queues screen)",
                                self.action_stop_agent)
        elif step is NextStep.START:
            yield SystemCommand("Start an agent", "take items from queues and launch them (a in the queues screen)",
                                self.action_start_agent)
        yield from getattr(screen, "screen_commands", lambda: ())()
        if main is not None:
            yield SystemCommand("Filter runs", "show runs containing some text (/)", main.action_filter)
        yield from binding_commands(screen)
        yield SystemCommand("Help", "every key binding (?)", self.action_help)
        yield SystemCommand("Quit launcher", "runs keep going unless you stop them (q)", self.action_quit)

    # -- queues, sweeps -------------------------------------------------------------------------------
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

    def create_sweep(self, path: str) -> None:
        from tui.screens.queues import unserved_note

        def create() -> tuple[SweepRecord, str]:
            sweep = self.api.sweeps.create(path)
            return sweep, unserved_note(self.api, sweep.queue)

        def created(result: tuple[SweepRecord, str]) -> None:
            sweep, note = result
            self.notify(f"sweep {sweep.id} ({sweep.name}) created: {sweep.trials} trial(s) queued on "
                        f"{sweep.queue!r}{note}")
            self._sweep_created(sweep.id)

        in_thread(self, create, then=created, group="sweeps", prefix=f"sweep file {path}: ")

    def _sweep_created(self, sweep_id: str) -> None:
        from tui.screens.sweeps import SweepsScreen

        for screen in self.screen_stack:
            if isinstance(screen, SweepsScreen):
                screen.select_sweep(sweep_id)
                return
        self.push_screen(SweepsScreen(self.api, select=sweep_id))

    # -- the agent in the app -------------------------------------------------------------------------
    def action_start_agent(self, queues: str = "default") -> None:
        from tui.screens.queue_dialogs import AgentStartScreen

        refusal = self.agent_control.start_refusal()
        if refusal is not None:
            self.tell(refusal)
            return

        def chosen(choice) -> None:
            if choice is not None:
                self.start_agent(choice.queues, choice.max_jobs)

        self.push_screen(AgentStartScreen(queues), chosen)

    def start_agent(self, queues: list[str], max_jobs: int) -> None:
        in_thread(self, lambda: self.agent_control.start(queues, max_jobs), group="agent")

    def _agent_said(self, text: str) -> None:
        """Called in the agent's thread: never block it (the app may be closing)."""
        try:
            self.post_message(AgentEvent(text))
        except RuntimeError:
            pass  # the app's event loop is gone

    def on_agent_event(self, event: AgentEvent) -> None:
        from tui.screens.queues import QueuesScreen

        self.agent_control.remember(event.text)
        for screen in self.screen_stack:
            if isinstance(screen, QueuesScreen):
                screen.agent_event(event.text)
        if " failed: " in event.text:
            self.notify(event.text.split("  ", 1)[-1], severity="warning", timeout=6)

    def action_stop_agent(self, on_stop: str | None = None) -> None:
        """s: the agent stops taking items and waits for its runs; s again while it waits: its runs stop."""
        self.tell(self.agent_control.stop_step(StopMode(on_stop) if on_stop else None))

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
            if record is not None and record.state is RunState.START_FAILED:
                self.tell_start_failed(run_id, record.message)
            self.select_run(run_id)

    def select_run(self, run_id: str) -> None:
        """Show the run in the table (the filter cleared if it hides it, the "selected run" tab shown) once
        the table has it: it may arrive with the next poll."""
        if not self.main.select_run(run_id):
            # Not in the table yet: read it now. A run that went away meanwhile is not shown.
            in_thread(self, lambda: self.api.runs.get(run_id).record, then=self._select_after_update,
                      failed=lambda error: None, group="select")

    def _select_after_update(self, record: RunRecord) -> None:
        if record.state is RunState.START_FAILED and record.id in self.launched_runs:
            self.tell_start_failed(record.id, record.message)  # the table may never see it change
        self.main.table.apply_updates([record])
        self.main.select_run(record.id)

    def action_relaunch(self, run_id: str) -> None:
        from tui.form_model import pinned_version_hint, settings_from_spec

        def relaunch(spec) -> None:
            self.action_new_launch(settings_from_spec(spec), title=f"Relaunch run {run_id}",
                                   version_hint=pinned_version_hint(spec))

        in_thread(self, lambda: self.api.runs.get(run_id).spec, then=relaunch, group="relaunch")

    def action_cancel_run(self, run_id: str) -> None:
        from tui.screens.dialogs import ConfirmScreen

        record = self.main.table.records.get(run_id)
        if record is not None and record.done:
            self.notify(f"run {run_id} is already {record.state}", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                in_thread(self, lambda: self.api.runs.get(run_id).cancel(wait=False),
                          then=lambda _: self.notify(f"stopping run {run_id} ..."), group="cancel")

        self.push_screen(ConfirmScreen(f"Cancel run {run_id}? Its program gets SIGTERM, then SIGKILL after the "
                                       "grace period.", yes="Cancel run"), answered)

    async def action_open_logs(self, run_id: str) -> None:
        await self.main.open_logs(run_id)

    def action_details(self, run_id: str) -> None:
        from tui.screens.run_details import RunDetailsScreen

        self.push_screen(RunDetailsScreen(self.api, run_id))

    def action_copy_id(self, run_id: str) -> None:
        self.copy_to_clipboard(run_id)
        self.notify(f"copied run id {run_id}", timeout=2)

    # -- presets from the command palette -------------------------------------------------------------
    def launch_preset(self, name: str) -> None:
        from launcher.presets import load_preset
        from launcher.spec import merge_request

        def launched(run_id: str) -> None:
            self.launched_runs.add(run_id)
            self.notify(f"run {run_id} launched from preset {name!r}")
            self.select_run(run_id)

        in_thread(self, lambda: self.api.runs.submit(merge_request(**load_preset(name))).id, then=launched,
                  group="launch", prefix=f"preset {name!r}: ")

    def open_preset(self, name: str) -> None:
        from launcher.presets import load_preset

        in_thread(self, lambda: load_preset(name), group="presets",
                  then=lambda settings: self.action_new_launch(settings, title=f"Launch from preset {name}"))

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
        return set(self.launched_runs) | set(self.agent_control.active_runs())

    async def action_quit(self) -> None:
        # The workspace cannot be read: quit as if nothing were active (nothing could be stopped either).
        in_thread(self, lambda: [r.id for r in self.api.runs(active_only=True)], then=self._quit_with,
                  failed=lambda error: self._quit_with([]), group="quit")

    def _quit_with(self, active: list[str]) -> None:
        own = self.own_runs()
        mine = [run_id for run_id in active if run_id in own]
        elsewhere = len(active) - len(mine)
        control = self.agent_control
        agent = control.agent if control.running else None
        if not mine:
            if agent is not None:
                control.stop(StopMode.WAIT)  # it has no active run: it ends at once
                self._stop_and_exit([], with_agent=True)
            else:
                self.exit(0)
            return
        from tui.screens.dialogs import QuitScreen

        def chosen(choice: str | None) -> None:
            if choice == "leave":
                if agent is not None:
                    control.stop(StopMode.LEAVE)  # it takes no more items; its runs go on
                self.exit(0)
            elif choice == "stop":
                if agent is not None:
                    control.stop(StopMode.STOP)
                self.notify(f"stopping {len(mine)} run(s) ...", timeout=3)
                self._stop_and_exit(mine, with_agent=agent is not None)

        self.push_screen(QuitScreen(mine, agent.id if agent is not None else None, elsewhere=elsewhere), chosen)

    def _stop_and_exit(self, run_ids: list[str], *, with_agent: bool) -> None:
        """Stop these runs (and wait for the agent), then exit; if any cannot be stopped, stay open and say
        why: the user decides what to do next (q again, or deal with the run)."""
        from launcher.errors import LaunchError

        control = self.agent_control
        agent = control.agent if with_agent else None

        def stop() -> list[str]:
            problems = []
            agents_runs = set(agent.active_runs()) if agent is not None else set()  # it stops those itself
            for run_id in run_ids:
                if run_id in agents_runs:
                    continue
                try:
                    self.api.runs.get(run_id).cancel(wait=False)
                except LaunchError as error:
                    problems.append(f"run {run_id}: {error}")
            if agent is not None and not agent.join(30):
                problems.append(f"agent {agent.id} did not stop within 30 s")
            return problems

        def stopped(problems: list[str]) -> None:
            if problems:
                self.notify("could not stop everything; the launcher stays open (q to quit): "
                            + "; ".join(problems), severity="error", timeout=30)
            else:
                self.exit(0)

        in_thread(self, stop, then=stopped, group="cancel")


def run_app(api: Api) -> int:
    """Open the TUI on this workspace; returns the process exit code."""
    app = LauncherApp(api)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
