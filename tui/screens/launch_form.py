"""The launch form: the job picker, the resource section (fields made from the runner's declared options),
typed fields for MLproject parameters, the run's own fields and a config editor, each a widget of
tui/widgets/form; this screen composes them, launches or queues what they hold, saves and loads presets,
and shows each error next to the field that caused it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Select, Static

from launcher.errors import LaunchError
from tui.engine_calls import in_thread
from tui.form_model import (
    TEXT_FIELDS,
    FormErrors,
    FormValues,
    field_for_error,
    from_settings,
    to_settings,
)
from tui.messages import JobResolved
from tui.widgets.form.config_editor import ConfigEditor
from tui.widgets.form.fields import as_text, param_id
from tui.widgets.form.job_picker import JobPicker
from tui.widgets.form.parameter_fields import ParameterFields
from tui.widgets.form.resource_section import ResourceSection
from tui.widgets.form.run_fields import RunFields

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.options import Option
    from launcher.records import JobVersion
    from launcher.spec import LaunchRequest
    from tui.widgets.form.resource_section import ResourceStatus

#: The form's fields that only the user changes once it is filled.
PLAIN_FIELDS = ("job", "version", "command", *TEXT_FIELDS)


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
        self.api = api
        self.initial = initial or {}
        self.form_title = title
        self.version_hint = version_hint
        #: Values of the job's typed parameters found in a filled config: they move to their fields once
        #: the job's parameters are known.
        self._pending_params: dict[str, str] = {}
        #: JobResolved messages handled (the parameters shown for what the picker found).
        self._resolutions_shown = 0
        #: The form's values once it has opened (filled and its job resolved); escape asks before losing changes.
        self._opened: FormValues | None = None
        self._filled: FormValues | None = None
        self.launching = False

    # -- layout ---------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="form"):
            yield Static(self.form_title, classes="form-title")
            yield JobPicker(self.api, version_hint=self.version_hint)
            yield ResourceSection()
            yield ParameterFields()
            yield RunFields(default_project=self.api.default_project, default_entity=self.api.default_entity)
            yield ConfigEditor()
            with Horizontal(classes="buttons"):
                yield Button("Launch (ctrl+s)", variant="success", id="launch")
                yield Button("Queue (f4)", variant="primary", id="queue")
                yield Button("Save preset (f2)", id="save-preset")
                yield Button("Load preset (f3)", id="load-preset")
                yield Button("Close (esc)", id="close")
        yield Footer()

    @property
    def picker(self) -> JobPicker:
        return self.query_one(JobPicker)

    @property
    def resource_section(self) -> ResourceSection:
        return self.query_one(ResourceSection)

    @property
    def parameters(self) -> ParameterFields:
        return self.query_one(ParameterFields)

    @property
    def config_editor(self) -> ConfigEditor:
        return self.query_one(ConfigEditor)

    @property
    def resources(self) -> list[ResourceStatus]:
        """The resources and whether they can be used here (empty until they are known)."""
        return self.resource_section.statuses

    @property
    def job_info(self) -> JobVersion | None:
        """The job version the job field names, when it names one."""
        return self.picker.job

    @property
    def job_settled(self) -> bool:
        """Whether the job field's text has been looked up and the form shows what it found."""
        return self.picker.settled and self._resolutions_shown == self.picker.resolved_count

    def on_mount(self) -> None:
        self.query_one("#job", Input).focus()
        api = self.api

        def read() -> tuple[list[JobVersion], list[ResourceStatus], dict[str, tuple[Option, ...]]]:
            resources = api.resources()
            options = {}
            for status in resources:
                try:
                    options[status.name] = api.resource_options(status.name)
                except (LaunchError, ImportError):
                    options[status.name] = ()  # not installed here: its status says why
            return api.jobs.list(), resources, options

        in_thread(self, read, then=self._choices_loaded, group="form")

    async def _choices_loaded(self, loaded: tuple[list[JobVersion], list[ResourceStatus],
                                                  dict[str, tuple[Option, ...]]]) -> None:
        jobs, resources, options = loaded
        self.picker.show_jobs(jobs)
        await self.resource_section.set_resources(resources, options)
        self._filled = from_settings(self.initial) if self.initial else FormValues()
        await self.fill(self._filled)

    # -- filling and reading --------------------------------------------------------------------------
    async def fill(self, values: FormValues) -> None:
        """Show these values (from a preset or a run being relaunched)."""
        self.picker.fill(values)
        section = self.resource_section
        if values.resource in section.names or not values.resource:
            await section.fill(values.resource or section.resource, values.resource_fields, values.resource_args)
        else:
            self.set_error("resource", f"resource {values.resource!r} is not known here; expected one of: "
                                       f"{', '.join(section.names)}")
            await section.fill(section.resource, values.resource_fields, values.resource_args)
        self.query_one(RunFields).show({key: getattr(values, key) for key in TEXT_FIELDS})
        self.config_editor.show(values.config_text, values.config_format)
        # Values of the job's typed parameters move from the editor into their fields once the job is known.
        try:
            self._pending_params = {k: as_text(v) for k, v in self.config_editor.values().items()}
        except LaunchError:
            self._pending_params = {}
        self.picker.look_up(values.job)

    def values(self) -> FormValues:
        picker, section, editor = self.picker, self.resource_section, self.config_editor
        return FormValues(
            job=self.query_one("#job", Input).value,
            version=self.query_one("#version", Input).value,
            entry_name=picker.entry_name,
            command=self.query_one("#command", Input).value,
            resource=section.resource,
            resource_args=section.args_text,
            resource_fields=section.field_values(),
            **self.query_one(RunFields).values(),
            config_format=editor.format,
            config_text=editor.text,
            params=self.parameters.values(),
        )

    # -- the job decides entry points and parameters --------------------------------------------------
    @on(JobResolved)
    async def _job_resolved(self) -> None:
        await self._update_parameters()
        self._note_opened()
        self._resolutions_shown += 1

    @on(Select.Changed, "#entry")
    async def _entry_changed(self) -> None:
        await self._update_parameters()

    def _note_opened(self) -> None:
        """The first time the filled form has its job resolved, remember how it looks: what the job decided
        (entry point, parameters) as shown, the plain fields as filled (the user may have typed already)."""
        if self._opened is None and self._filled is not None:
            self._opened = replace(self.values(), **{key: getattr(self._filled, key) for key in PLAIN_FIELDS})

    async def _update_parameters(self) -> None:
        job = self.picker.job
        parameters: dict[str, Any] = {}
        if job is not None:
            entry = self.picker.entry_name
            parameters = job.entry_points[entry]["parameters"] if entry in job.entry_points else job.schema or {}
        kept = self.parameters.values()
        kept.update(self._pending_params)
        if self._pending_params and parameters:
            self.config_editor.take_out(parameters)
        self._pending_params = {}
        await self.parameters.show(parameters, kept)

    # -- errors ---------------------------------------------------------------------------------------
    def _error_id(self, key: str) -> str:
        if key.startswith("param:"):
            return param_id(key.removeprefix("param:"))
        if key.startswith("resource:"):
            return self.resource_section.error_key(key.removeprefix("resource:"))
        return key

    def set_error(self, key: str, message: str) -> None:
        try:
            widget = self.query_one(f"#error-{self._error_id(key)}", Static)
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
        options = [option.name for option in self.resource_section.chosen_options()]
        key = field_for_error(error, list(self.parameters.types), options)
        if key == "entry" and self.query_one("#command", Input).value.strip():
            key = "command"
        if key is None:
            self.notify(str(error), severity="error", timeout=8)
            return
        self.set_error(key, str(error))
        try:
            self.query_one(f"#{self._error_id(key)}").focus()
        except Exception:  # noqa: BLE001 - nothing to focus for this field
            pass

    def _settings(self) -> dict[str, Any] | None:
        self.clear_errors()
        values = self.values()
        section = self.resource_section
        try:
            settings = to_settings(values, self.parameters.types, section.names, section.chosen_options())
        except FormErrors as problems:
            for key, message in problems.errors.items():
                self.set_error(key, message)
            return None
        chosen = section.status(values.resource)
        if chosen is not None and not chosen.available:
            self.set_error("resource", f"resource {values.resource!r} is not available here: {chosen.reason}")
            return None
        return settings

    # -- launching ------------------------------------------------------------------------------------
    def _checked(self) -> tuple[dict[str, Any], LaunchRequest] | None:
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
        # A resource may still fail the start after this (e.g. its image build, done by the run's owner):
        # the app announces that when the run's record turns start_failed.
        in_thread(self, lambda: self.api.runs.submit(request).id, then=self._launched, failed=self._not_launched,
                  group="launch")

    def _not_launched(self, error: LaunchError) -> None:
        self.launching = False
        if error.run_id is not None:
            # Recorded, then refused by its resource: show the run (its log says why), like any failed run.
            self.app.tell_start_failed(error.run_id, str(error))
            self.dismiss(error.run_id)
        else:
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
        yield SystemCommand("Launch this form", "start the run now (ctrl+s)", self.action_launch)
        yield SystemCommand("Queue this launch", "put it on a queue for an agent, with a priority (f4)", self.action_queue)
        yield SystemCommand("Save the form as a preset", "a named TOML file (f2)", self.action_save_preset)
        yield SystemCommand("Load a preset into the form", "(f3)", self.action_load_preset)

    # -- queueing instead of launching ----------------------------------------------------------------
    def action_queue(self) -> None:
        """Put the form's settings on a queue (an agent launches them) instead of launching now."""
        checked = self._checked()
        if checked is not None:
            settings = checked[0]
            in_thread(self, self.api.queues.names, then=lambda names: self._ask_queue(settings, names), group="queue")

    def _ask_queue(self, settings: dict[str, Any], names: list[str]) -> None:
        from tui.screens.queue_dialogs import QueueTarget, QueueTargetScreen

        def chosen(target: QueueTarget | None) -> None:
            if target is None:
                return
            self.launching = True
            queues = self.api.queues
            in_thread(self, lambda: queues.add(settings, queue_name=target.queue, priority=target.priority).id,
                      then=lambda item_id: self._queued(item_id, target), failed=self._not_launched, group="queue")

        self.app.push_screen(QueueTargetScreen(names), chosen)

    def _queued(self, item_id: int, target) -> None:
        self.launching = False
        self.notify(f"queued as item {item_id} on {target.queue!r} ({target.priority}); an agent launches it "
                    "(Q shows queues)")
        self.dismiss(None)

    # -- presets --------------------------------------------------------------------------------------
    def action_save_preset(self) -> None:
        settings = self._settings()
        if settings is None:
            return
        from launcher.presets import save_preset
        from tui.screens.dialogs import TextPromptScreen

        def save(name: str | None) -> None:
            if name:
                in_thread(self, lambda: save_preset(name, settings), group="presets",
                          then=lambda path: self.notify(f"preset {name!r} saved to {path}"))

        self.app.push_screen(TextPromptScreen("Save this form as the preset named:", placeholder="e.g. train-small"), save)

    def action_load_preset(self) -> None:
        from launcher.presets import list_presets

        in_thread(self, list_presets, then=self._show_presets, group="presets")

    def _show_presets(self, listed) -> None:
        from tui.screens.dialogs import PresetPickScreen

        presets, problems = listed
        self.app.push_screen(PresetPickScreen([p.name for p in presets], [str(p) for p in problems]),
                             self.load_preset)

    def load_preset(self, name: str | None) -> None:
        if not name:
            return
        from launcher.presets import load_preset

        async def loaded(settings: dict[str, Any]) -> None:
            self.clear_errors()
            await self.fill(from_settings(settings))
            self.notify(f"preset {name!r} loaded")

        in_thread(self, lambda: load_preset(name), then=loaded, group="presets")

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        actions = {"launch": self.action_launch, "queue": self.action_queue, "save-preset": self.action_save_preset,
                   "load-preset": self.action_load_preset, "close": self.action_close}
        actions[event.button.id or "close"]()
