"""The local-container resource: each run is a container on a Docker engine on this machine.

`start` checks that the engine answers, writes the run's container plan (image to use or to build, the
container's settings, labels) and starts the run's supervisor (launcher/containers/supervisor.py),
a separate small process in its own session that owns the run from then on, so the run outlives the
launching process. The supervisor holds an exclusive lock on the run folder's lock file while it lives;
`reattach` (called when a workspace is opened) starts a new supervisor for an active run whose lock is
free, and that supervisor picks the run up from its container, found by its labels. Containers of runs
that ended while the engine was away are removed the next time the workspace reaches the engine (`tidy`,
from `start` and `reattach`; see launcher/containers/leftovers.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher import states
from launcher.containers import leftovers, settings, supervisor
from launcher.containers.settings import LABEL_JOB, LABEL_RUN, LABEL_WORKSPACE
from launcher.environment import run_environment
from launcher.errors import LaunchError, ResourceError
from launcher.logfile import LogWriter
from launcher.processes import process_alive, process_start_time, try_lock
from launcher.runners.base import ProcessHandle, RunHandle, Runner, check_resource_args

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.spec import LaunchSpec

DEFAULT_BASE_IMAGE = "launcher-base:bookworm"
BASE_IMAGE_ENV = "LAUNCHER_BASE_IMAGE"
BASE_IMAGE_SETTING = "base_image"
#: Where the run's config file appears inside the container (LAUNCHER_CONFIG_FILE points here).
CONFIG_PATH = "/launcher/config.json"
#: A run recorded as starting whose plan was never written after this long is declared failed.
START_TIMEOUT_SECONDS = 60.0
PING_SECONDS = 1.0
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)
SUPERVISOR_BOOTSTRAP = (f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                        "from launcher.containers.supervisor import main; sys.exit(main())")


def engine():
    from launcher.containers.engine import Engine

    return Engine()


def base_image(api: Api, args: Mapping[str, Any]) -> str:
    """The image generated Dockerfiles start from: resource arg, then $LAUNCHER_BASE_IMAGE, then the
    workspace setting, then the launcher's own (built locally by `launcher images base`)."""
    return (args.get("base_image") or os.environ.get(BASE_IMAGE_ENV) or api.get_setting(BASE_IMAGE_SETTING)
            or DEFAULT_BASE_IMAGE)


def workspace_label(api: Api) -> str:
    return str(api.home.resolve())


def container_name(api: Api, run_id: str) -> str:
    # Run ids are unique within a workspace only; the workspace's hash keeps names unique on the engine.
    return f"launcher-{run_id}-{hashlib.sha256(workspace_label(api).encode()).hexdigest()[:8]}"


class LocalContainerRunner(Runner):
    name = "local-container"
    resource_arg_keys = settings.KEYS
    runs_images = True
    runs_source = True

    def unavailable_reason(self) -> str | None:
        try:
            engine().ping(timeout=PING_SECONDS)
        except LaunchError as error:
            return str(error)
        return None

    def validate(self, spec: LaunchSpec) -> None:
        check_resource_args(self.name, spec.resource_args, self.resource_arg_keys)
        settings.check(spec.resource_args)
        if spec.docker_image is not None and (spec.repository or spec.resource_args.get("registry")):
            raise ResourceError(f"repository/registry apply to images the launcher builds; image "
                                f"{spec.docker_image!r} is run as it is (push it yourself, or leave them out)")
        if spec.docker_image is not None and spec.resource_args.get("base_image"):
            raise ResourceError(f"resource_args local-container.base_image applies to images the launcher builds; "
                                f"image {spec.docker_image!r} is run as it is (leave base_image out)")
        if spec.docker_image is None and not spec.argv:
            raise ResourceError("local-container needs an entry point to run a code or git job")
        if spec.resource_args.get("gpus") is not None:
            self._check_gpus(spec.resource_args["gpus"])

    def _check_gpus(self, gpus: Any) -> None:
        """Before the run is recorded: the engine itself says it has no GPUs only when the container starts.
        An engine reached over TCP may be another machine's, whose GPU set-up cannot be seen from here."""
        client = engine()
        if client.host.startswith("unix://"):
            problem = settings.gpu_problem(gpus, client.info())
            if problem is not None:
                raise ResourceError(problem)

    # -- start ----------------------------------------------------------------------------------------
    def start(self, api: Api, spec: LaunchSpec, run_dir: Path) -> RunHandle:
        client = engine()
        client.ping(timeout=PING_SECONDS)  # a clear error now rather than a supervisor waiting on nothing
        plan = {
            "run_id": spec.run_id,
            "db": str(api.store.path),
            "host": client.host,
            "workspace": workspace_label(api),
            "name": container_name(api, spec.run_id),
            "image": self._image_plan(api, spec, run_dir),
            "container": self._container_config(api, spec, run_dir),
            "grace_period": settings.grace_period(spec.resource_args),
            "keep": bool(spec.resource_args.get("keep", False)),
            "gpus": spec.resource_args.get("gpus"),
        }
        (run_dir / supervisor.PLAN_FILE).write_text(json.dumps(plan))
        lock = try_lock(run_dir / supervisor.LOCK_FILE)
        if lock is None:
            raise ResourceError(f"run {spec.run_id} already has a supervisor")
        try:
            process, container = self._start_locked(api, spec, run_dir, client, plan, lock)
        finally:
            os.close(lock)
        api.store.update_handle(spec.run_id, supervisor_pid=process.pid,
                                supervisor_start=process_start_time(process.pid),
                                container_name=plan["name"], **({"container_id": container} if container else {}))
        self.tidy(api, client)
        return ProcessHandle(process)

    def _start_locked(self, api: Api, spec: LaunchSpec, run_dir: Path, client, plan: dict[str, Any],
                      lock: int) -> tuple[subprocess.Popen, str | None]:
        """When the image is ready, start the container here, attached, and hand the attach connection to
        the supervisor: its start-up then overlaps the container's. Otherwise the supervisor does all."""
        from launcher.images.image import ready_image

        image = ready_image(client, plan["image"])
        if image is None:
            return _spawn_supervisor(run_dir, lock), None
        if "build" in plan["image"]:
            _note(run_dir, f"image {image} exists; no build needed")
        container, sock, first = supervisor.start_container(client, plan, image)
        try:
            if first:  # output before start cannot happen, but nothing is dropped if it ever does
                from launcher.containers.engine import FrameSplitter

                log = LogWriter(run_dir / supervisor.LOG_FILE)
                for frame, data in FrameSplitter().feed(first):
                    log.write(supervisor.STREAMS[frame], data)
                log.close()
            api.store.update_handle(spec.run_id, container_id=container, image=image)
            api.store.transition(spec.run_id, states.RUNNING)
            process = _spawn_supervisor(run_dir, lock, attached=(container, sock.fileno()))
        finally:
            sock.close()
        return process, container

    def _image_plan(self, api: Api, spec: LaunchSpec, run_dir: Path) -> dict[str, Any]:
        if spec.docker_image is not None:
            return {"given": spec.docker_image}
        from launcher.images import dockerfile as recipes

        source = run_dir / "src"
        own = recipes.find_dockerfile(source, spec.argv)
        base = base_image(api, spec.resource_args)
        generated = None if own else recipes.generated_dockerfile(base, bool(spec.requirements))
        return {"build": {
            "context": str(source),
            "dockerfile": own,
            "generated": generated,
            "requirements": list(spec.requirements),
            "requirements_file": recipes.REQUIREMENTS_FILE,
            "source_dir": recipes.SOURCE_DIR,
            "source_key": _source_key(spec),
            "base_image": base,
            "repo": image_repo(spec),
            "repository": spec.repository,
            "registry": spec.resource_args.get("registry"),
        }}

    def _container_config(self, api: Api, spec: LaunchSpec, run_dir: Path) -> dict[str, Any]:
        args = spec.resource_args
        env = run_environment(spec, CONFIG_PATH)
        env.update(settings.environment(args))
        host = settings.host_settings(args)
        host["Binds"] = [f"{run_dir / 'config.json'}:{CONFIG_PATH}:ro", *host.get("Binds", [])]
        labels = {str(k): str(v) for k, v in args.get("labels", {}).items()}
        labels.update({LABEL_RUN: spec.run_id, LABEL_JOB: spec.job_label, LABEL_WORKSPACE: workspace_label(api)})
        config: dict[str, Any] = {
            "Env": [f"{key}={value}" for key, value in env.items()],
            "Labels": labels,
            "AttachStdin": False, "AttachStdout": True, "AttachStderr": True,
            "OpenStdin": False, "Tty": False,
            "HostConfig": host,
        }
        if spec.argv:  # the entry point replaces the image's entry point and command
            config["Entrypoint"] = [spec.argv[0]]
            config["Cmd"] = list(spec.argv[1:])
        if args.get("user"):
            config["User"] = args["user"]
        if args.get("working_dir"):
            config["WorkingDir"] = args["working_dir"]
        return config

    # -- cancel and reattach --------------------------------------------------------------------------
    def cancel(self, api: Api, run: Mapping[str, Any], grace_period: float | None) -> None:
        run_dir = api.run_dir(run["id"])
        grace = grace_period if grace_period is not None else settings.grace_period(
            run["spec"].get("resource_args", {}))
        if not run_dir.is_dir():  # still being submitted: it must not start
            api.store.transition(run["id"], states.STOPPED, message="stopped by request before it started")
            return
        (run_dir / supervisor.CANCEL_FILE).write_text(json.dumps({"grace_period": grace, "at": time.time()}))
        lock = try_lock(run_dir / supervisor.LOCK_FILE)
        if lock is None:
            # A supervisor owns the run: it stops the container. Read the handle after writing the cancel
            # file: a supervisor that records its pid later finds the file when it starts.
            latest = api.store.get_run(run["id"]) or run
            pid = _live_supervisor(latest["handle"])
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
            return
        try:
            self._stop_without_supervisor(api, run, grace)
        finally:
            os.close(lock)

    def _stop_without_supervisor(self, api: Api, run: Mapping[str, Any], grace: float) -> None:
        from launcher.containers.engine import EngineUnavailable

        message = "stopped by request"
        try:
            client = engine()
            for container in client.containers({LABEL_RUN: run["id"], LABEL_WORKSPACE: workspace_label(api)}):
                client.stop_container(container["Id"], max(0, int(grace + 0.999)))
                client.remove_container(container["Id"])
        except EngineUnavailable as error:
            message = f"stopped by request; its container could not be stopped or removed yet: {error}"
            if not run["spec"].get("resource_args", {}).get("keep"):
                leftovers.mark(workspace_label(api), run["id"])
        _note(api.run_dir(run["id"]), message)
        api.store.transition(run["id"], states.STOPPED, message=message)

    def tidy(self, api: Api, client=None) -> None:
        """Remove containers of this workspace's ended runs that could not be removed when they ended
        (the engine was away). Cheap unless there are some: one directory listing."""
        if not leftovers.pending(workspace_label(api)):
            return
        try:
            client = client or engine()
            client.ping(timeout=PING_SECONDS)
            leftovers.remove(client, api.store, workspace_label(api))
        except LaunchError:
            pass  # still away: the markers stay for the next time

    def reattach(self, api: Api, run: Mapping[str, Any]) -> None:
        self.tidy(api)
        run_dir = api.run_dir(run["id"])
        young = time.time() - run["created_at"] < START_TIMEOUT_SECONDS
        if not (run_dir / supervisor.PLAN_FILE).exists():
            if not young:
                api.store.transition(run["id"], states.START_FAILED,
                                     message="the launching process ended before the container run was set up")
            return  # otherwise being started right now by another process
        lock = try_lock(run_dir / supervisor.LOCK_FILE)
        if lock is None:
            return  # a supervisor owns the run
        try:
            latest = api.store.get_run(run["id"])
            if latest is None or states.is_terminal(latest["state"]):
                return
            _spawn_supervisor(run_dir, lock, reattach=True)
        finally:
            os.close(lock)


def image_repo(spec: LaunchSpec) -> str:
    """The local repository of a job's built images: launcher/<job name>."""
    name = spec.job.rsplit("/", 1)[-1].split(":", 1)[0] if spec.job else "adhoc"
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("._-")
    return f"launcher/{cleaned or 'job'}"


def _source_key(spec: LaunchSpec) -> str | None:
    if spec.source.get("snapshot"):
        return f"snapshot:{spec.source['snapshot']}"
    if spec.source.get("commit"):
        return f"git:{spec.source['commit']}"
    return None


def _spawn_supervisor(run_dir: Path, lock: int, *, reattach: bool = False,
                      attached: tuple[str, int] | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-I", "-S", "-c", SUPERVISOR_BOOTSTRAP, str(run_dir), str(lock)]
    fds = [lock]
    if reattach:
        argv.append("--reattach")
    if attached is not None:
        argv += ["--attached", attached[0], str(attached[1])]
        fds.append(attached[1])
    with open(run_dir / "supervisor.err", "ab") as errors:
        return subprocess.Popen(argv, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                                start_new_session=True, close_fds=True, pass_fds=tuple(fds))


def _note(run_dir: Path, text: str) -> None:
    log = LogWriter(run_dir / supervisor.LOG_FILE)
    try:
        log.note(text)
    finally:
        log.close()


def _live_supervisor(handle: Mapping[str, Any]) -> int | None:
    pid = handle.get("supervisor_pid")
    return pid if process_alive(pid, handle.get("supervisor_start")) else None
