"""The launch form: every launch setting, typed fields for MLproject parameters, a config editor with
TOML/JSON highlighting, presets, and errors shown next to the field that caused them."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static, TextArea

from launcher.errors import LaunchError
from tui.form_model import (
    TEXT_FIELDS,
    FormErrors,
    FormValues,
    error_text,
    field_for_error,
    format_config,
    from_settings,
    parse_config_text,
    to_settings,
)

if TYPE_CHECKING:
    from launcher.api import Api

FIELD_LABELS = {
    "job": "Job", "version": "Version (git ref)", "entry": "Entry point", "command": "Command (argv)",
    "resource": "Resource", "resource_args": "Resource args (JSON)", "docker_image": "Docker image",
    "project": "Project", "entity": "Entity", "name": "Name", "run_id": "Run id", "repository": "Repository",
    "config": "Config",
}


class CompletingInput(Input):
    """An input whose Tab accepts the suggestion shown after the cursor, and moves focus when none is."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False)]

    @property
    def suggestion_shown(self) -> bool:
        return self.cursor_at_end and len(self._suggestion) > len(self.value)

    def action_complete(self) -> None:
        if self.suggestion_shown:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


class LaunchForm(Screen[str | None]):
    """Dismissed with the id of the run it launched, or None."""

    BINDINGS = [
        Binding("ctrl+s", "launch", "Launch", priority=True),
        Binding("f4", "queue", "Queue instead"),
        Binding("f2", "save_preset", "Save preset"),
        Binding("f3", "load_preset", "Load preset"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, api: Api, initial: dict[str, Any] | None = None, *, title: str = "Launch a run",
                 version_hint: str = "") -> None:
        super().__init__()
        #: Shown under the version field, e.g. the branch a relaunched run's pinned commit came from.
        self.version_hint = version_hint
        self.api = api
        self.initial = initial or {}
        self.form_title = title
        self.jobs: dict[str, Any] = {}
        self.job_info: Any = None  # the JobVersion the job field names, when it names one
        self.parameter_types: dict[str, str] = {}
        self._shown_parameters: dict[str, Any] = {}
        self.resources: list[dict[str, Any]] = []
        self._job_timer: Timer | None = None
        self._pending_entry: str | None = None
        self._pending_params: dict[str, str] = {}
        self._job_timer_due = False
        #: The form's values once it has opened (filled and its job resolved); escape asks before losing changes.
        self._opened: FormValues | None = None
        self._filled: FormValues | None = None
        self.launching = False

    # -- layout ---------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="form"):
            yield Static(self.form_title, classes="form-title")
            yield from self._field("job", CompletingInput(compact=True, placeholder="entity/project/name:alias (tab or → completes)", id="job"))
            yield Static("", id="job-hint", classes="hint")
            with Horizontal(classes="pair"):
                with Vertical():
                    yield from self._field("version", Input(compact=True, placeholder="for git jobs: branch, tag or commit", id="version"))
                    yield Static(self.version_hint, id="version-hint", classes="hint")
                with Vertical():
                    yield from self._field("entry", Select([], prompt="the job's default", compact=True, id="entry"))
            yield from self._field("command", Input(compact=True, placeholder="or a command, e.g. python train.py --epochs 3", id="command"))
            with Horizontal(classes="pair"):
                with Vertical():
                    yield from self._field("resource", Select([("local-process", "local-process")], allow_blank=False, compact=True, id="resource"))
                with Vertical():
                    yield from self._field("resource_args", Input(compact=True, placeholder='{"env": {"SEED": "1"}}', id="resource_args"))
            yield Static("", id="resource-hint", classes="hint")
            yield Label("Parameters", id="params-title", classes="section")
            yield Vertical(id="params")
            yield from self._input_pair(("name", "default: the job's name"), ("run_id", "default: a new random id"))
            yield from self._input_pair(("project", self.api.default_project), ("entity", self.api.default_entity))
            yield from self._input_pair(("docker_image", "run this image (container resources)"),
                                        ("repository", "registry repository for built images"))
            with Horizontal(classes="config-head"):
                yield Label("Config (run config values)", classes="field-label")
                yield Select([("TOML", "toml"), ("JSON", "json")], value="toml", allow_blank=False, compact=True, id="config-format")
            yield TextArea.code_editor("", language="toml", id="config", soft_wrap=True)
            yield Static("", id="error-config", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Launch (ctrl+s)", variant="success", id="launch")
                yield Button("Queue (f4)", variant="primary", id="queue")
                yield Button("Save preset (f2)", id="save-preset")
                yield Button("Load preset (f3)", id="load-preset")
                yield Button("Close (esc)", id="close")
        yield Footer()

    def _input_pair(self, *fields: tuple[str, str]) -> ComposeResult:
        """Two text fields side by side, each given as (name, placeholder)."""
        with Horizontal(classes="pair"):
            for name, placeholder in fields:
                with Vertical():
                    yield from self._field(name, Input(compact=True, placeholder=placeholder, id=name))

    def _field(self, key: str, widget) -> ComposeResult:
        yield Label(FIELD_LABELS[key], classes="field-label")
        yield widget
        yield Static("", id=f"error-{key}", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#params-title").display = False
        self.query_one("#version-hint").display = bool(self.version_hint)
        self.query_one("#job", Input).focus()
        self._load_choices()

    @work(thread=True, exit_on_error=False, group="form")
    def _load_choices(self) -> None:
        try:
            jobs = self.api.list_jobs()
            resources = self.api.resources()
        except Exception as error:  # noqa: BLE001 - a worker's failure must show, not vanish
            self.app.call_from_thread(self.notify, error_text(error), severity="error")
            return
        self.app.call_from_thread(self._choices_loaded, jobs, resources)

    def _choices_loaded(self, jobs: list, resources: list[dict[str, Any]]) -> None:
        suggestions: list[str] = []
        for job in jobs:
            short = job.base.split("/", 2)
            names = [job.base, job.name, f"{short[1]}/{short[2]}"]
            # Every written form of the job also with each alias: `trainer:st` completes to `trainer:stable`.
            candidates = names + [f"{name}:{alias}" for name in names for alias in job.aliases]
            suggestions += candidates
            for candidate in candidates:
                self.jobs.setdefault(candidate, job)
        self.query_one("#job", Input).suggester = SuggestFromList(suggestions, case_sensitive=False)
        self.query_one("#job-hint", Static).update(jobs_hint(jobs))
        self.resources = resources
        options = [(r["name"] if r["available"] else f"{r['name']} (unavailable)", r["name"]) for r in resources]
        select = self.query_one("#resource", Select)
        select.set_options(options)
        unavailable = [f"{r['name']}: {r['reason']}" for r in resources if not r["available"]]
        hint = self.query_one("#resource-hint", Static)
        hint.update("unavailable here: " + "; ".join(unavailable))
        hint.display = bool(unavailable)
        self._filled = from_settings(self.initial) if self.initial else FormValues()
        self.fill(self._filled)

    # -- filling --------------------------------------------------------------------------------------
    def fill(self, values: FormValues) -> None:
        """Show these values (from a preset or a run being relaunched)."""
        if self._job_timer is not None:
            self._job_timer.stop()
            self._job_timer_due = False
        # The job is looked up below, once: a second lookup from Input.Changed would finish later and put
        # back the job's default entry point and parameters in place of the ones filled in.
        with self.prevent(Input.Changed):
            self.query_one("#job", Input).value = values.job
        self.query_one("#version", Input).value = values.version
        self.query_one("#command", Input).value = values.command
        names = [r["name"] for r in self.resources]
        if values.resource in names:
            self.query_one("#resource", Select).value = values.resource
        elif values.resource:
            self.set_error("resource", f"resource {values.resource!r} is not known here; expected one of: {', '.join(names)}")
        self.query_one("#resource_args", Input).value = values.resource_args
        for key in ("name", "project", "entity", "docker_image", "run_id", "repository"):
            self.query_one(f"#{key}", Input).value = getattr(values, key)
        self.query_one("#config-format", Select).value = values.config_format
        editor = self.query_one("#config", TextArea)
        editor.language = values.config_format
        self._pending_entry = values.entry_name
        # Values of the job's typed parameters move from the editor into their fields once the job is known.
        try:
            self._pending_params = {k: _as_text(v) for k, v in parse_config_text(values.config_text, values.config_format).items()}
        except LaunchError:
            self._pending_params = {}
        editor.text = values.config_text
        self._lookup_job(values.job)

    def values(self) -> FormValues:
        entry = self.query_one("#entry", Select).value
        return FormValues(
            job=self.query_one("#job", Input).value,
            version=self.query_one("#version", Input).value,
            entry_name=entry if isinstance(entry, str) else None,
            command=self.query_one("#command", Input).value,
            resource=str(self.query_one("#resource", Select).value or ""),
            resource_args=self.query_one("#resource_args", Input).value,
            name=self.query_one("#name", Input).value,
            project=self.query_one("#project", Input).value,
            entity=self.query_one("#entity", Input).value,
            docker_image=self.query_one("#docker_image", Input).value,
            run_id=self.query_one("#run_id", Input).value,
            repository=self.query_one("#repository", Input).value,
            config_format=str(self.query_one("#config-format", Select).value),
            config_text=self.query_one("#config", TextArea).text,
            params={inp.name or "": inp.value for inp in self.query("#params Input").results(Input)},
        )

    # -- the job decides versions, entry points and parameters ---------------------------------------
    @on(Input.Changed, "#job")
    def _job_changed(self, event: Input.Changed) -> None:
        self.set_error("job", "")
        if self._job_timer is not None:
            self._job_timer.stop()
        self._job_timer_due = True
        self._job_timer = self.set_timer(0.2, lambda: self._lookup_job(event.value))

    def _lookup_job(self, text: str) -> None:
        self._job_timer_due = False
        self._resolve_job(text.strip())

    @property
    def job_settled(self) -> bool:
        """Whether the job field's text has been looked up and the form shows what it found."""
        return not self._job_timer_due and not any(w.group == "job" and not w.is_finished for w in self.workers)

    @work(thread=True, exclusive=True, exit_on_error=False, group="job")
    def _resolve_job(self, text: str) -> None:
        job = None
        if text:
            try:
                job = self.api.job(text)
            except LaunchError:
                job = None  # not (yet) a job's name: the text is still being typed
            except Exception as error:  # noqa: BLE001 - a worker's failure must show, not vanish
                self.app.call_from_thread(self.notify, error_text(error), severity="error")
                job = None
        self.app.call_from_thread(self._job_resolved, text, job)

    async def _job_resolved(self, text: str, job: Any) -> None:
        if text != self.query_one("#job", Input).value.strip():
            return  # the field changed meanwhile
        same_job = job is not None and self.job_info is not None and self.job_info.ref == job.ref
        self.job_info = job
        version = self.query_one("#version", Input)
        entry = self.query_one("#entry", Select)
        if job is None:
            entry.set_options([])
            version.placeholder = "for git jobs: branch, tag or commit"
            await self._show_parameters({})
            self._note_opened()
            return
        version.placeholder = (f"default: {job.data['source'].get('ref')}" if job.kind == "git"
                               else f"only for git jobs ({job.ref} is a {job.kind} job)")
        names = list(job.entry_points)
        # The same job looked up again keeps the entry point shown; a filled-in one wins over both.
        shown = entry.value if same_job and isinstance(entry.value, str) else None
        wanted = self._pending_entry or shown or job.data.get("default_entry")
        entry.set_options([(name, name) for name in names])
        if wanted in names:
            entry.value = wanted
        self._pending_entry = None
        await self._update_parameters()
        self._note_opened()

    def _note_opened(self) -> None:
        """The first time the filled form has its job resolved, remember how it looks: what the job decided
        (entry point, parameters) as shown, the plain fields as filled (the user may have typed already)."""
        if self._opened is None and self._filled is not None:
            self._opened = replace(self.values(), **{key: getattr(self._filled, key) for key in PLAIN_FIELDS})

    @on(Select.Changed, "#entry")
    async def _entry_changed(self) -> None:
        await self._update_parameters()

    async def _update_parameters(self) -> None:
        job = self.job_info
        if job is None:
            await self._show_parameters({})
            return
        entry = self.query_one("#entry", Select).value
        if isinstance(entry, str) and entry in job.entry_points:
            parameters = job.entry_points[entry]["parameters"]
        else:
            parameters = job.schema or {}
        await self._show_parameters(parameters)

    async def _show_parameters(self, parameters: dict[str, Any]) -> None:
        container = self.query_one("#params", Vertical)
        kept = {inp.name: inp.value for inp in container.query(Input).results(Input)}
        kept.update(self._pending_params)
        if self._pending_params and parameters:
            self._move_params_out_of_editor(parameters)
        self._pending_params = {}
        if parameters == self._shown_parameters:
            for name, text in kept.items():
                if name in parameters:
                    container.query_one(f"#{param_id(name)}", Input).value = text
            return
        self._shown_parameters = parameters
        await container.remove_children()
        self.parameter_types = {name: spec.get("type", "string") for name, spec in parameters.items()}
        widgets = []
        for name, spec in parameters.items():
            default = spec.get("default")
            # A default is shown, not filled in: only typed values are sent, so the version launched (or the
            # job's own default) decides the rest.
            text = kept.get(name, "")
            widgets += [
                Label(f"{name} ({spec.get('type', 'string')})", classes="field-label"),
                Input(text, compact=True, placeholder="required" if default is None else f"default: {_as_text(default)}",
                      name=name, id=param_id(name)),
                Static("", id=f"error-{param_id(name)}", classes="field-error"),
            ]
        await container.mount_all(widgets)
        self.query_one("#params-title").display = bool(parameters)

    def _move_params_out_of_editor(self, parameters: dict[str, Any]) -> None:
        editor = self.query_one("#config", TextArea)
        kind = str(self.query_one("#config-format", Select).value)
        try:
            values = parse_config_text(editor.text, kind)
        except LaunchError:
            return
        rest = {k: v for k, v in values.items() if k not in parameters}
        editor.text = format_config(rest, kind)

    @on(Select.Changed, "#config-format")
    def _format_changed(self, event: Select.Changed) -> None:
        editor = self.query_one("#config", TextArea)
        new = str(event.value)
        old = "json" if new == "toml" else "toml"
        if editor.language == new:
            return
        try:
            editor.text = format_config(parse_config_text(editor.text, old), new)
        except LaunchError:
            pass  # keep the text as it is; launching will point at the problem
        editor.language = new

    # -- errors ---------------------------------------------------------------------------------------
    def set_error(self, key: str, message: str) -> None:
        target = f"#error-{param_id(key[6:]) if key.startswith('param:') else key}"
        try:
            widget = self.query_one(target, Static)
        except Exception:  # noqa: BLE001 - a field that is not shown: say it as a notification
            if message:
                self.notify(message, severity="error")
            return
        widget.update(message)
        widget.display = bool(message)

    def clear_errors(self) -> None:
        for widget in self.query(".field-error").results(Static):
            widget.update("")
            widget.display = False

    @property
    def errors(self) -> dict[str, str]:
        """Errors shown now, by field id (for tests and the status line)."""
        shown = {}
        for widget in self.query(".field-error").results(Static):
            if widget.display and str(widget.render()):
                shown[(widget.id or "").removeprefix("error-")] = str(widget.render())
        return shown

    def show_launch_error(self, error: LaunchError) -> None:
        key = field_for_error(error, list(self.parameter_types))
        if key == "entry" and self.query_one("#command", Input).value.strip():
            key = "command"
        if key is None:
            self.notify(str(error), severity="error", timeout=8)
            return
        self.set_error(key, str(error))
        focus_id = param_id(key[6:]) if key.startswith("param:") else key
        try:
            self.query_one(f"#{focus_id}").focus()
        except Exception:  # noqa: BLE001 - nothing to focus for this field
            pass

    def _settings(self) -> dict[str, Any] | None:
        self.clear_errors()
        values = self.values()
        try:
            settings = to_settings(values, self.parameter_types, [r["name"] for r in self.resources])
        except FormErrors as problems:
            for key, message in problems.errors.items():
                self.set_error(key, message)
            return None
        available = {r["name"]: r for r in self.resources}
        chosen = available.get(values.resource)
        if chosen is not None and not chosen["available"]:
            self.set_error("resource", f"resource {values.resource!r} is not available here: {chosen['reason']}")
            return None
        return settings

    # -- actions --------------------------------------------------------------------------------------
    def _checked(self):
        """(settings, request) when the form is valid and nothing is being launched; else None, with the
        problem shown next to its field."""
        if self.launching:
            return None
        settings = self._settings()
        if settings is None:
            return None
        from launcher.spec import merge_request

        try:
            return settings, merge_request(**settings)
        except LaunchError as error:
            self.show_launch_error(error)
            return None

    def action_launch(self) -> None:
        checked = self._checked()
        if checked is None:
            return
        _, request = checked
        self.launching = True
        self.notify("launching ...", timeout=2)
        self._submit(request)

    @work(thread=True, exit_on_error=False, group="launch")
    def _submit(self, request) -> None:
        from launcher.launching import submit

        try:
            run = submit(self.api, request)
        except LaunchError as error:
            if error.run_id is not None:  # recorded, then refused by its resource: show the run
                self.app.call_from_thread(self._start_failed, error.run_id, str(error))
            else:
                self.app.call_from_thread(self._launch_failed, error)
            return
        except Exception as error:  # noqa: BLE001 - never a traceback in the UI
            self.app.call_from_thread(self._launch_failed, LaunchError(error_text(error)))
            return
        # A resource may still fail the start after this (e.g. its image build, done by the run's
        # supervisor): the app announces that when the run's record turns start_failed.
        self.app.call_from_thread(self._launched, run.id)

    def _start_failed(self, run_id: str, message: str) -> None:
        """The run was recorded, then failed to start: show it (its log says why), like any failed run."""
        self.launching = False
        self.app.tell_start_failed(run_id, message)
        self.dismiss(run_id)

    def _launch_failed(self, error: LaunchError) -> None:
        self.launching = False
        self.show_launch_error(error)

    def _launched(self, run_id: str) -> None:
        self.launching = False
        self.notify(f"run {run_id} launched")
        self.dismiss(run_id)

    @property
    def changed(self) -> bool:
        """Whether the form differs from how it opened."""
        now = self.values()
        if self._opened is not None:
            return now != self._opened
        if self._filled is None:
            return False
        # Still opening (its job not yet resolved): only the plain fields can tell.
        return any(getattr(now, key) != getattr(self._filled, key) for key in PLAIN_FIELDS)

    def action_close(self) -> None:
        if self.launching or not self.changed:
            self.dismiss(None)
            return
        from tui.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen("Discard the form? What was changed in it is lost.", yes="Discard"), answered)

    def screen_commands(self):
        """Command palette entries for this screen (the app adds them)."""
        from textual.app import SystemCommand

        yield SystemCommand("Launch this form", "start the run now (ctrl+s)", self.action_launch)
        yield SystemCommand("Queue this launch", "put it on a queue for an agent, with a priority (f4)", self.action_queue)
        yield SystemCommand("Save the form as a preset", "a named TOML file (f2)", self.action_save_preset)
        yield SystemCommand("Load a preset into the form", "(f3)", self.action_load_preset)

    # -- queueing instead of launching ----------------------------------------------------------------
    def action_queue(self) -> None:
        """Put the form's settings on a queue (an agent launches them) instead of launching now."""
        checked = self._checked()
        if checked is not None:
            self._pick_queue(checked[0])

    @work(thread=True, exit_on_error=False, group="queue")
    def _pick_queue(self, settings: dict[str, Any]) -> None:
        from launcher.queue import queue_names

        try:
            names = queue_names(self.api)
        except Exception as error:  # noqa: BLE001 - a worker's failure must show, not vanish
            self.app.call_from_thread(self.notify, error_text(error), severity="error")
            return
        self.app.call_from_thread(self._ask_queue, settings, names)

    def _ask_queue(self, settings: dict[str, Any], names: list[str]) -> None:
        from tui.screens.queue_dialogs import QueueTargetScreen

        def chosen(target) -> None:
            if target is not None:
                self.launching = True
                self._add_to_queue(settings, target.queue, target.priority)

        self.app.push_screen(QueueTargetScreen(names), chosen)

    @work(thread=True, exit_on_error=False, group="queue")
    def _add_to_queue(self, settings: dict[str, Any], queue_name: str, priority: str) -> None:
        from launcher.queue import add_item

        try:
            item = add_item(self.api, settings, queue_name=queue_name, priority=priority)
        except LaunchError as error:
            self.app.call_from_thread(self._launch_failed, error)
            return
        except Exception as error:  # noqa: BLE001 - never a traceback in the UI
            self.app.call_from_thread(self._launch_failed, LaunchError(error_text(error)))
            return
        self.app.call_from_thread(self._queued, item.id, queue_name, priority)

    def _queued(self, item_id: int, queue_name: str, priority: str) -> None:
        self.launching = False
        self.notify(f"queued as item {item_id} on {queue_name!r} ({priority}); an agent launches it (Q shows queues)")
        self.dismiss(None)

    def action_save_preset(self) -> None:
        settings = self._settings()
        if settings is None:
            return
        from tui.screens.dialogs import TextPromptScreen

        def save(name: str | None) -> None:
            if name:
                self._save_preset(name, settings)

        self.app.push_screen(TextPromptScreen("Save this form as the preset named:", placeholder="e.g. train-small"), save)

    @work(thread=True, exit_on_error=False, group="presets")
    def _save_preset(self, name: str, settings: dict[str, Any]) -> None:
        from launcher.presets import save_preset

        try:
            path = save_preset(name, settings)
        except Exception as error:  # noqa: BLE001 - a worker's failure must show, not vanish
            self.app.call_from_thread(self.notify, error_text(error), severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, f"preset {name!r} saved to {path}")

    def action_load_preset(self) -> None:
        self._pick_preset()

    @work(thread=True, exit_on_error=False, group="presets")
    def _pick_preset(self) -> None:
        from launcher.presets import list_presets

        try:
            presets, problems = list_presets()
        except Exception as error:  # noqa: BLE001 - a worker's failure must show, not vanish
            self.app.call_from_thread(self.notify, error_text(error), severity="error")
            return
        self.app.call_from_thread(self._show_presets, [p.name for p in presets], [str(p) for p in problems])

    def _show_presets(self, names: list[str], problems: list[str]) -> None:
        from tui.screens.dialogs import PresetPickScreen

        self.app.push_screen(PresetPickScreen(names, problems), self.load_preset)

    def load_preset(self, name: str | None) -> None:
        if not name:
            return
        from launcher.presets import load_preset

        try:
            settings = load_preset(name)
        except LaunchError as error:
            self.notify(str(error), severity="error")
            return
        self.clear_errors()
        self.fill(from_settings(settings))
        self.notify(f"preset {name!r} loaded")

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        actions = {"launch": self.action_launch, "queue": self.action_queue, "save-preset": self.action_save_preset,
                   "load-preset": self.action_load_preset, "close": self.action_close}
        actions[event.button.id or "close"]()


def jobs_hint(jobs: list) -> str:
    """The job field's hint: the jobs there are, a few by name and how many more."""
    if not jobs:
        return "no jobs yet: create one with 'launcher job create', or give a command below"
    shown = jobs if len(jobs) <= HINT_JOBS + 2 else jobs[:HINT_JOBS]
    known = ", ".join(f"{job.base} ({job.kind}, {', '.join(job.aliases)})" for job in shown)
    more = len(jobs) - len(shown)
    return f"jobs: {known}" + (f" and {more} more (type to complete)" if more else "")


#: The form's fields that only the user changes once it is filled.
PLAIN_FIELDS = ("job", "version", "command", "resource_args", *TEXT_FIELDS)

#: How many jobs the job field's hint names when there are many.
HINT_JOBS = 6


def param_id(name: str) -> str:
    """A widget id for a parameter's field (parameter names may hold characters ids may not)."""
    return "param-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
