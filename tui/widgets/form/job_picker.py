"""The job picker: the job field (completing names and aliases), its version, its entry point, or a command.

Typing in the job field looks the job up a moment after the last key (in a worker); once found, the
version's placeholder, the entry points and the job's hint follow, and `JobResolved` tells the
form, which shows the entry point's parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widgets import Input, Select, Static

from launcher.errors import LaunchError
from tui.engine_calls import in_thread, notify_error
from tui.messages import JobResolved
from tui.widgets.form.fields import CompletingInput, labelled

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.records import JobVersion
    from tui.form_model import FormValues

#: How many jobs the job field's hint names when there are many.
HINT_JOBS = 6
#: The job is looked up this long after the last key typed in its field.
LOOKUP_DELAY_SECONDS = 0.2
VERSION_PLACEHOLDER = "for git jobs: branch, tag or commit"


def jobs_hint(jobs: list[JobVersion]) -> str:
    """The job field's hint: the jobs there are, a few by name and how many more."""
    if not jobs:
        return "no jobs yet: create one with 'launcher job create', or give a command below"
    shown = jobs if len(jobs) <= HINT_JOBS + 2 else jobs[:HINT_JOBS]
    known = ", ".join(f"{job.base} ({job.kind}, {', '.join(job.aliases)})" for job in shown)
    more = len(jobs) - len(shown)
    return f"jobs: {known}" + (f" and {more} more (type to complete)" if more else "")


class JobPicker(Vertical):
    DEFAULT_CSS = "JobPicker { height: auto; }"

    def __init__(self, api: Api, *, version_hint: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = api
        #: Shown under the version field, e.g. the branch a relaunched run's pinned commit came from.
        self.version_hint = version_hint
        #: Every written form of every job (names, short names, with aliases) -> its latest version.
        self.jobs: dict[str, JobVersion] = {}
        #: The version the job field names, when it names one.
        self.job: JobVersion | None = None
        #: The entry point to choose once the job is known (from a preset or a relaunched run).
        self.pending_entry: str | None = None
        #: Lookups handed to the form (JobResolved posted).
        self.resolved_count = 0
        self._timer: Timer | None = None
        self._timer_due = False
        #: The text being looked up, until its answer is shown.
        self._looking_up: str | None = None

    def compose(self) -> ComposeResult:
        yield from labelled("job", CompletingInput(compact=True, id="job",
                                                   placeholder="entity/project/name:alias (tab or → completes)"))
        yield Static("", id="job-hint", classes="hint")
        with Horizontal(classes="pair"):
            with Vertical():
                yield from labelled("version", Input(compact=True, placeholder=VERSION_PLACEHOLDER, id="version"))
                yield Static(self.version_hint, id="version-hint", classes="hint")
            with Vertical():
                yield from labelled("entry", Select([], prompt="the job's default", compact=True, id="entry"))
        yield from labelled("command", Input(compact=True, id="command",
                                             placeholder="or a command, e.g. python train.py --epochs 3"))

    def on_mount(self) -> None:
        self.query_one("#version-hint").display = bool(self.version_hint)

    @property
    def settled(self) -> bool:
        """Whether the job field's text has been looked up and the picker shows what it found."""
        return not self._timer_due and self._looking_up is None

    # -- what the form reads and fills ----------------------------------------------------------------
    @property
    def entry_name(self) -> str | None:
        value = self.query_one("#entry", Select).value
        return value if isinstance(value, str) else None

    def show_jobs(self, jobs: list[JobVersion]) -> None:
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

    def fill(self, values: FormValues) -> None:
        """Show these values; the job is looked up (once: see look_up) by the caller."""
        self._stop_timer()
        # A second lookup from Input.Changed would finish later and put back the job's default entry point
        # and parameters in place of the ones filled in.
        with self.prevent(Input.Changed):
            self.query_one("#job", Input).value = values.job
        self.query_one("#version", Input).value = values.version
        self.query_one("#command", Input).value = values.command
        self.pending_entry = values.entry_name

    # -- looking the job up ---------------------------------------------------------------------------
    @on(Input.Changed, "#job")
    def _job_changed(self, event: Input.Changed) -> None:
        error = self.query_one("#error-job", Static)  # about the text as it was
        error.update("")
        error.display = False
        self._stop_timer()
        self._timer_due = True
        self._timer = self.set_timer(LOOKUP_DELAY_SECONDS, lambda: self.look_up(event.value))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer_due = False

    def look_up(self, text: str | None = None) -> None:
        """Look up the job field's text (or `text`) now."""
        self._timer_due = False
        text = (self.query_one("#job", Input).value if text is None else text).strip()
        self._looking_up = text
        api = self.api

        def find() -> JobVersion | None:
            try:
                return api.jobs.get(text) if text else None
            except LaunchError:
                return None  # not (yet) a job's name: the text is still being typed

        def failed(error: LaunchError) -> None:
            if self._looking_up == text:
                self._looking_up = None
            notify_error(self, error)

        in_thread(self, find, then=lambda job: self._found(text, job), failed=failed, group="job", exclusive=True)

    async def _found(self, text: str, job: JobVersion | None) -> None:
        if text != self._looking_up or text != self.query_one("#job", Input).value.strip():
            return  # the field changed meanwhile: its own lookup follows
        same_job = job is not None and self.job is not None and self.job.ref == job.ref
        self.job = job
        version = self.query_one("#version", Input)
        entry = self.query_one("#entry", Select)
        if job is None:
            entry.set_options([])
            version.placeholder = VERSION_PLACEHOLDER
        else:
            version.placeholder = (f"default: {job.source.get('ref')}" if job.kind == "git"
                                   else f"only for git jobs ({job.ref} is a {job.kind} job)")
            names = list(job.entry_points)
            # The same job looked up again keeps the entry point shown; a filled-in one wins over both.
            shown = entry.value if same_job and isinstance(entry.value, str) else None
            wanted = self.pending_entry or shown or job.data.get("default_entry")
            entry.set_options([(name, name) for name in names])
            if wanted in names:
                entry.value = wanted
        self.pending_entry = None
        self._looking_up = None
        self.resolved_count += 1
        self.post_message(JobResolved(self, job))
