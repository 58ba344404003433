"""Virtual environments for declared dependencies, built with uv and shared between jobs.

- Cached under the folder the caller gives (the workspace's `envs/`) as `uv-<key>`, the key a hash of the
  Python version wanted, the full dependency list, and the index settings (the project's and pip's).
- Built once: a builder takes the key's file lock; a second builder of the same key waits for it (and
  says so through `on_output`), then finds the environment ready.
- Never half-made: it is built in a temporary folder (`.tmp-uv-<key>-*`, a relocatable virtualenv) and
  renamed into place when complete. A failed or cancelled build removes its folder; one left by a builder
  killed with SIGKILL is removed by the next build (its lock is free then).
- uv runs in its own process group, never downloads an interpreter, installs from the indexes pip is
  configured with (pip_config.py), and its output goes to `on_output` as it comes. `cancelled()` is
  polled; on cancel uv's group gets SIGTERM, then SIGKILL after the grace period."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from launcher.envs import interpreters
from launcher.envs.declared import DeclaredDependencies
from launcher.envs.pip_config import IndexSettings, read_pip_settings
from launcher.errors import DependencyError, EnvironmentCancelled

PREFIX = "uv-"
TEMP_PREFIX = ".tmp-uv-"
METADATA_FILE = "launcher-env.json"
REQUIREMENTS_FILE = "launcher-requirements.txt"
BUILD_REQUIREMENTS_FILE = "launcher-build-requirements.txt"
#: How often a builder looks at its cancel request while uv works or while it waits for the lock.
POLL_SECONDS = 0.1
DEFAULT_GRACE_SECONDS = 5.0


class CancelRequest(Protocol):
    def is_set(self) -> bool: ...


OnOutput = Callable[[bytes], None]


@dataclass(frozen=True)
class Environment:
    key: str
    path: Path
    python: Path  # path/bin/python: the interpreter a run uses
    interpreter: str  # the version it was built with, e.g. "cpython 3.12.1"
    built: bool  # True: built by this call; False: found ready

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"


def uv_binary() -> str:
    """The uv executable the `uv` package ships."""
    from uv import find_uv_bin

    return find_uv_bin()


def python_request(declared: DeclaredDependencies) -> str:
    """The version part of the cache key: the pin as written, or the current interpreter's version."""
    return declared.python or interpreters.current_interpreter().version


def environment_key(declared: DeclaredDependencies, settings: IndexSettings) -> str:
    identity = {
        "python": python_request(declared),
        "build": list(declared.build_requirements),
        "requirements": sorted(declared.requirements),
        "index_url": declared.index_url,
        "extra_index_urls": list(declared.extra_index_urls),
        "pip": settings.fingerprint(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def find_environment(declared: DeclaredDependencies, envs_dir: Path, *,
                     settings: IndexSettings | None = None) -> Environment | None:
    """The ready environment for `declared`, without building or locking; None when there is none."""
    settings = read_pip_settings() if settings is None else settings
    key = environment_key(declared, settings)
    return _ready(envs_dir, key)


def ensure_environment(declared: DeclaredDependencies, envs_dir: Path, *,
                       on_output: OnOutput = lambda chunk: None,
                       cancelled: Callable[[], bool] | CancelRequest | None = None,
                       grace_period: float = DEFAULT_GRACE_SECONDS,
                       settings: IndexSettings | None = None,
                       on_scratch: Callable[[Path], None] | None = None) -> Environment:
    """The environment for `declared`, built if it is not ready. DependencyError (one line) when it
    cannot be built; EnvironmentCancelled when `cancelled` says so first. Either way nothing is left.
    `on_scratch` hears of the temporary folder before it is made (a run's owner notes it, so that it is
    removed at once should the owner be killed, rather than by the next build of the same key)."""
    declared.check_installable()
    envs_dir = Path(os.path.abspath(envs_dir))  # uv runs inside it: its own paths must not be relative
    is_cancelled = _cancel_check(cancelled)
    settings = read_pip_settings() if settings is None else settings
    key = environment_key(declared, settings)
    ready = _ready(envs_dir, key)
    if ready is not None:
        return ready
    envs_dir.mkdir(parents=True, exist_ok=True)
    with _locked(envs_dir / f"{PREFIX}{key}.lock", key, on_output, is_cancelled) as lock:
        ready = _ready(envs_dir, key)
        if ready is not None:
            _say(on_output, f"environment {PREFIX}{key} was built by another run meanwhile; using it")
            return ready
        _remove_stale(envs_dir, key)
        build = _Build(declared, envs_dir, key, settings, on_output, is_cancelled, grace_period, lock)
        if on_scratch is not None:
            on_scratch(build.temp)
        return build.run()


def _ready(envs_dir: Path, key: str) -> Environment | None:
    path = envs_dir / f"{PREFIX}{key}"
    python = path / "bin" / "python"
    try:
        metadata = json.loads((path / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not python.exists():  # its base interpreter was removed: the next build replaces it
        return None
    return Environment(key, path, python, metadata.get("interpreter", ""), built=False)


def _cancel_check(cancelled: Callable[[], bool] | CancelRequest | None) -> Callable[[], bool]:
    if cancelled is None:
        return lambda: False
    if hasattr(cancelled, "is_set"):
        return cancelled.is_set
    return cancelled


def _say(on_output: OnOutput, line: str) -> None:
    on_output(f"launcher: {line}\n".encode())


@contextlib.contextmanager
def _locked(lock_path: Path, key: str, on_output: OnOutput, is_cancelled: Callable[[], bool]) -> Iterator[int]:
    """Hold the key's lock; yields its file descriptor."""
    with open(lock_path, "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(on_output, f"waiting for another run that is building environment {PREFIX}{key}")
            while True:
                if is_cancelled():
                    raise EnvironmentCancelled(f"cancelled while waiting for environment {PREFIX}{key}") from None
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(POLL_SECONDS)
        try:
            yield lock.fileno()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_stale(envs_dir: Path, own_key: str) -> None:
    """Remove temporary folders whose builder is gone: its key's lock is free (or held by us)."""
    for folder in envs_dir.glob(f"{TEMP_PREFIX}*"):
        key = folder.name[len(TEMP_PREFIX):].rsplit("-", 1)[0]
        if key == own_key:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        with open(envs_dir / f"{PREFIX}{key}.lock", "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its builder is at work
            try:
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class _Build:
    def __init__(self, declared: DeclaredDependencies, envs_dir: Path, key: str, settings: IndexSettings,
                 on_output: OnOutput, is_cancelled: Callable[[], bool], grace_period: float, lock: int) -> None:
        self.declared = declared
        self.envs_dir = envs_dir
        self.key = key
        self.settings = settings
        self.on_output = on_output
        self.is_cancelled = is_cancelled
        self.grace_period = grace_period
        self.lock = lock
        self.uv = uv_binary()
        self.environ = interpreters.uv_environment()
        self.environ.update(settings.uv_environment(os.environ))
        self.temp = envs_dir / f"{TEMP_PREFIX}{key}-{secrets.token_hex(4)}"
        self.final = envs_dir / f"{PREFIX}{key}"

    def run(self) -> Environment:
        try:
            return self._build()
        except BaseException:
            shutil.rmtree(self.temp, ignore_errors=True)
            raise

    def _build(self) -> Environment:
        declared = self.declared
        origin = declared.file or "the project"
        for note in declared.notes:
            _say(self.on_output, note)
        current = interpreters.current_interpreter()
        try:  # the current interpreter first: listing the installed ones takes uv most of a second
            choice = interpreters.choose(declared.python, [], current, origin=origin)
        except DependencyError:
            choice = None
        if choice is None or choice.note is not None:
            installed = interpreters.installed_interpreters(self.uv, self.environ)
            choice = interpreters.choose(declared.python, installed, current, origin=origin)
        if choice.note:
            _say(self.on_output, choice.note)
        interpreter = choice.interpreter
        _say(self.on_output, f"building environment {self.final.name} with uv: {interpreter.label}")
        self._uv(["venv", "--relocatable", "--python", interpreter.path, str(self.temp)])
        python = self.temp / "bin" / "python"
        for requirements, file_name in ((declared.build_requirements, BUILD_REQUIREMENTS_FILE),
                                        (declared.requirements, REQUIREMENTS_FILE)):
            if not requirements:
                continue
            listing = self.temp / file_name
            listing.write_text("".join(f"{line}\n" for line in requirements))
            options = self.settings.uv_arguments(index_url=declared.index_url,
                                                 extra_index_urls=declared.extra_index_urls)
            self._uv(["pip", "install", "--python", str(python), *options, "-r", str(listing)],
                     requirements=requirements)
        label = f"{interpreter.implementation} {interpreter.version}"
        metadata = {"key": self.key, "interpreter": label, "interpreter_path": interpreter.path,
                    "dependencies": declared.to_data(), "created": time.time()}
        (self.temp / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
        if self.is_cancelled():
            raise EnvironmentCancelled(f"cancelled while building environment {self.final.name}")
        if self.final.exists():  # left by a build whose base interpreter has gone since
            stale = self.envs_dir / f"{TEMP_PREFIX}{self.key}-{secrets.token_hex(4)}"
            os.rename(self.final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(self.temp, self.final)
        _say(self.on_output, f"environment {self.final.name} is ready")
        return Environment(self.key, self.final, self.final / "bin" / "python", label, built=True)

    def _uv(self, arguments: list[str], *, requirements: tuple[str, ...] = ()) -> None:
        """Run uv, its output to on_output as it comes; stop its process group on cancel."""
        if self.is_cancelled():
            raise EnvironmentCancelled(f"cancelled while building environment {self.final.name}")
        process = subprocess.Popen([self.uv, *arguments], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=self.environ, cwd=self.envs_dir,
                                   start_new_session=True, pass_fds=(self.lock,))
        # uv holds the lock too (pass_fds): if this builder is killed, the key stays locked until uv has
        # gone as well, so no later build removes a folder uv still writes in.
        assert process.stdout is not None
        tail = bytearray()
        descriptor = process.stdout.fileno()
        try:
            while True:
                if self.is_cancelled():
                    self._stop(process)
                    raise EnvironmentCancelled(f"cancelled while building environment {self.final.name}")
                readable, _, _ = select.select([descriptor], [], [], POLL_SECONDS)
                if not readable:
                    continue
                chunk = os.read(descriptor, 1 << 16)
                if not chunk:
                    break
                self.on_output(chunk)
                tail += chunk
                del tail[:-(1 << 16)]
            code = process.wait()
        finally:
            process.stdout.close()
            if process.poll() is None:
                self._stop(process)
        if code != 0:
            raise DependencyError(failure_line(tail.decode(errors="replace"), requirements, arguments[0]))

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.grace_period)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def failure_line(output: str, requirements: tuple[str, ...], step: str) -> str:
    """uv's failure as one line: the line that names one of the requirements (`Because nosuch was not
    found in the package registry ...`), else its last error line."""
    lines = [line.strip() for line in output.splitlines()]
    # uv marks its error lines with a label (`error:`, `cause:`) or, on a terminal, with tree drawing;
    # it wraps them at the width COLUMNS gives, the rest of a message on indented lines of its own
    errors: list[str] = []
    continues = False
    for raw, line in zip(output.splitlines(), lines, strict=True):
        if line.lower().startswith(_ERROR_LABELS) or line.startswith(tuple(_TREE.strip())):
            errors.append(_without_label(line.lstrip(_TREE).strip()))
            continues = True
        elif continues and line and raw[:1].isspace():
            errors[-1] = f"{errors[-1]} {line.lstrip(_TREE).strip()}"
        else:
            continues = False
    names = {_name(requirement) for requirement in requirements} - {""}
    for line in errors:
        lowered = line.lower().replace("_", "-")
        if any(re.search(rf"(?<![a-z0-9.-]){re.escape(name)}(?![a-z0-9-])", lowered) for name in names):
            return f"uv could not install the requirements: {line}"
    last = (errors or [line for line in lines if line] or [f"uv {step} exited with an error"])[-1]
    return f"uv {step} failed: {last}"


_ERROR_LABELS = ("error:", "cause:", "caused by:", "help:", "hint:")
_TREE = "×╰─▶│├└ "


def _without_label(line: str) -> str:
    for label in _ERROR_LABELS:
        if line.lower().startswith(label):
            return line[len(label):].strip()
    return line


def _name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1).lower().replace("_", "-") if match else ""
