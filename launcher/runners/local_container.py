"""The local-container resource: the entry point runs in a Docker container on this machine's engine.

`start` writes the run's container plan (image to find, pull or build, the container's settings, labels)
and hands the run to its owner (launcher/runners/container_owner.py). When the image exists already,
the container is started here, attached, and the attach connection handed to the owner, so the owner's
start-up overlaps the container's. A container goes on without its owner: when an owner is gone while
its run runs, `resume` starts a new owner that picks the run up from the container, found by its labels.
Containers of runs that ended while the engine was away are removed the next time the workspace reaches
the engine (`tidy`; see launcher/containers/leftovers.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.containers import leftovers
from launcher.containers import settings as container_settings
from launcher.containers.settings import LABEL_JOB, LABEL_RUN, LABEL_WORKSPACE
from launcher.environment import run_environment
from launcher.errors import LaunchError, ResourceError
from launcher.logfile import LogWriter
from launcher.options import Option, OptionKind
from launcher.runners.base import OwnerProcess, Runner
from launcher.runners.ownership import spawn_owner
from launcher.states import RunState

if TYPE_CHECKING:
    from launcher.records import RunRecord
    from launcher.runners.ownership import RunFolder
    from launcher.spec import LaunchSpec
    from launcher.workspace import Workspace

DEFAULT_BASE_IMAGE = "launcher-base:bookworm"
BASE_IMAGE_ENV = "LAUNCHER_BASE_IMAGE"
BASE_IMAGE_SETTING = "base_image"
#: Where the run's config file appears inside the container (LAUNCHER_CONFIG_FILE points here).
CONFIG_PATH = "/launcher/config.json"
#: Where the run folder's outputs/ is bind-mounted (LAUNCHER_OUTPUT_DIR, WANDB_DIR): what the program
#: writes there survives the container.
OUTPUTS_PATH = "/launcher/outputs"
PING_SECONDS = 1.0
PART = "launcher.runners.container_owner:ContainerPart"


def engine():
    from launcher.containers.engine import Engine

    return Engine()


def base_image(workspace: Workspace, args: Mapping[str, Any]) -> str:
    """The image generated Dockerfiles start from: resource arg, then $LAUNCHER_BASE_IMAGE, then the
    workspace setting, then the launcher's own (built locally by `launcher images base`)."""
    import os

    return (args.get("base_image") or os.environ.get(BASE_IMAGE_ENV) or workspace.setting(BASE_IMAGE_SETTING)
            or DEFAULT_BASE_IMAGE)


def workspace_label(workspace: Workspace) -> str:
    return str(workspace.home.resolve())


def container_name(workspace: Workspace, run_id: str) -> str:
    # Run ids are unique within a workspace only; the workspace's hash keeps names unique on the engine.
    return f"launcher-{run_id}-{hashlib.sha256(workspace_label(workspace).encode()).hexdigest()[:8]}"


def _check_image_setting(label: str, value: Any) -> str:
    from launcher.jobs.sources.image import IMAGE_PATTERN

    if not isinstance(value, str) or not IMAGE_PATTERN.match(value):
        raise ResourceError(f"{label} {value!r} is not a valid image reference; expected e.g. "
                            "'launcher-base:bookworm' or 'python:3.11-slim'")
    return value


@dataclass(frozen=True)
class ContainerHandle:
    """What a container run records: its container and the image it runs."""

    container_id: str | None = None
    container_name: str | None = None
    image: str | None = None

    @classmethod
    def of(cls, record: RunRecord) -> ContainerHandle:
        handle = record.handle
        return cls(*(value if isinstance(value, str) else None
                     for value in (handle.get("container_id"), handle.get("container_name"), handle.get("image"))))


class LocalContainerRunner(Runner):
    name = "local-container"
    options = container_settings.OPTIONS
    settings = (Option(BASE_IMAGE_SETTING, OptionKind.CUSTOM, "base image of generated Dockerfiles",
                       default=DEFAULT_BASE_IMAGE, example="python:3.11-slim", checker=_check_image_setting),)
    runs_images = True
    runs_source = True

    def unavailable_reason(self) -> str | None:
        try:
            engine().ping(timeout=PING_SECONDS)
        except LaunchError as error:
            return str(error)
        return None

    def grace_period(self, resource_args: Mapping[str, Any]) -> float:
        return container_settings.grace_period(resource_args)

    def validate(self, spec: LaunchSpec) -> None:
        self.check_args(spec.resource_args)
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
            problem = container_settings.gpu_problem(gpus, client.info())
            if problem is not None:
                raise ResourceError(problem)

    # -- start ----------------------------------------------------------------------------------------
    def start(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder, lock_fd: int) -> OwnerProcess:
        client = engine()
        client.ping(timeout=PING_SECONDS)  # a clear error now rather than an owner waiting on nothing
        plan = {
            "host": client.host,
            "workspace": workspace_label(workspace),
            "name": container_name(workspace, spec.run_id),
            "image": self._image_plan(workspace, spec, folder),
            "container": self._container_config(workspace, spec, folder),
            "grace_period": container_settings.grace_period(spec.resource_args),
            "keep": bool(spec.resource_args.get("keep", False)),
            "gpus": spec.resource_args.get("gpus"),
        }
        from launcher.runners.container_owner import PLAN_FILE

        Path(folder.file(PLAN_FILE)).write_text(json.dumps(plan))
        workspace.store.update_handle(spec.run_id, container_name=plan["name"])
        process = self._start_fast(workspace, spec, folder, client, plan, lock_fd)
        if process is None:
            process = spawn_owner(folder, lock_fd, PART, [])
        self.tidy(workspace, client)
        return OwnerProcess(process)

    def _start_fast(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder, client, plan: dict[str, Any],
                    lock_fd: int):
        """When the image is ready, start the container here, attached, and hand the attach connection to
        the owner: its start-up then overlaps the container's. None: the owner does it all."""
        from launcher.images.image import ready_image
        from launcher.runners import container_owner

        if "build" in plan["image"] and plan["image"]["build"] is None:
            return None  # the source is checked out by the owner: the image is known only then
        from launcher.runners.owner_tracking import tie_pending

        if tie_pending(folder):
            return None  # the owner makes the tied MLflow run first: its id goes into the container
        image = ready_image(client, plan["image"])
        if image is None:
            return None
        if "build" in plan["image"]:
            folder.note(f"image {image} exists; no build needed")
        container, sock, first = container_owner.start_container(client, plan, image)
        try:
            if first:  # output before start cannot happen, but nothing is dropped if it ever does
                from launcher.containers.engine import FrameSplitter

                log = LogWriter(folder.log)
                for frame, data in FrameSplitter().feed(first):
                    log.write(container_owner.STREAMS[frame], data)
                log.close()
            workspace.store.transition(spec.run_id, RunState.RUNNING,
                                       handle={"container_id": container, "image": image})
            return spawn_owner(folder, lock_fd, PART, ["--attached", container, str(sock.fileno())],
                               pass_fds=(sock.fileno(),))
        finally:
            sock.close()

    def _image_plan(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder) -> dict[str, Any]:
        from launcher.images.build_plan import build_inputs, build_plan

        if spec.docker_image is not None:
            return {"given": spec.docker_image}
        inputs = build_inputs(spec, base_image(workspace, spec.resource_args), image_repo(spec))
        source = Path(folder.source)
        # A source the owner checks out is not here yet: the owner makes the build plan once it is.
        ready = source.is_dir() and not Path(folder.file("source.json")).exists()
        return {"inputs": inputs, "build": build_plan(inputs, source) if ready else None}

    def _container_config(self, workspace: Workspace, spec: LaunchSpec, folder: RunFolder) -> dict[str, Any]:
        import os

        from launcher.tracking.launching import run_tracking

        args = spec.resource_args
        user_env = container_settings.environment(args)
        tracking = run_tracking(workspace, spec, folder.path, OUTPUTS_PATH, user_env)
        env = run_environment(spec, CONFIG_PATH)
        env.update(tracking.variables)
        env.update(user_env)
        host = container_settings.host_settings(args)
        os.chmod(folder.outputs, 0o777)  # the container's user (uid 1000 in a generated image) writes there
        binds = [f"{folder.config}:{CONFIG_PATH}:ro", f"{folder.outputs}:{OUTPUTS_PATH}:rw"]
        if tracking.store is not None:
            # The workspace's MLflow store, at the same absolute path: its URI and artifact paths hold.
            tracking.store.share_with_containers()
            binds.append(f"{tracking.store.folder}:{tracking.store.folder}:rw")
        host["Binds"] = [*binds, *host.get("Binds", [])]
        labels = {str(k): str(v) for k, v in args.get("labels", {}).items()}
        labels.update({LABEL_RUN: spec.run_id, LABEL_JOB: spec.job_label, LABEL_WORKSPACE: workspace_label(workspace)})
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

    # -- owners that are gone -------------------------------------------------------------------------
    def resume(self, workspace: Workspace, record: RunRecord, folder: RunFolder, lock_fd: int) -> bool:
        """A container goes on without its owner: a running run gets a new owner that picks it up."""
        if record.state is not RunState.RUNNING:
            return False
        spawn_owner(folder, lock_fd, PART, [], resume=True)
        return True

    def stop_orphan(self, workspace: Workspace, record: RunRecord, folder: RunFolder) -> str | None:
        from launcher.containers.engine import EngineUnavailable

        grace = folder.cancel_request() or 0.0
        try:
            client = engine()
            for container in client.containers({LABEL_RUN: record.id, LABEL_WORKSPACE: workspace_label(workspace)}):
                client.stop_container(container["Id"], max(0, int(grace + 0.999)))
                client.remove_container(container["Id"])
        except EngineUnavailable as error:
            if not record.resource_args.get("keep"):
                leftovers.mark(workspace_label(workspace), record.id)
            return f"its container could not be stopped or removed yet: {error}"
        return None

    def image_of(self, record: RunRecord) -> str | None:
        return ContainerHandle.of(record).image

    def forget(self, workspace: Workspace, record: RunRecord) -> None:
        """A deleted run's containers (kept with keep=true, or left while the engine was away) go too; an
        engine that does not answer refuses the delete (a LaunchError), so no container is orphaned."""
        client = engine()
        for container in client.containers({LABEL_RUN: record.id, LABEL_WORKSPACE: workspace_label(workspace)}):
            client.remove_container(container["Id"])

    def tidy(self, workspace: Workspace, client=None) -> None:
        """Remove containers of this workspace's ended runs that could not be removed when they ended
        (the engine was away). Cheap unless there are some: one directory listing."""
        if not leftovers.pending(workspace_label(workspace)):
            return
        try:
            client = client or engine()
            client.ping(timeout=PING_SECONDS)
            leftovers.remove(client, workspace.store, workspace_label(workspace))
        except LaunchError:
            pass  # still away: the markers stay for the next time


def image_repo(spec: LaunchSpec) -> str:
    """The local repository of a job's built images: launcher/<job name>."""
    name = spec.job.rsplit("/", 1)[-1].split(":", 1)[0] if spec.job else "adhoc"
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("._-")
    return f"launcher/{cleaned or 'job'}"
