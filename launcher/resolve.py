"""From a LaunchRequest to a LaunchSpec: pick the resource, resolve the job and git ref, choose the entry
point, check the config against the schema. Nothing is written to the workspace here (the git cache
aside), so a bad request leaves no trace."""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher import runners
from launcher.envs.declared import DeclaredDependencies
from launcher.errors import ResourceError, RunError, SpecError
from launcher.jobs import mlproject, sources
from launcher.jobs.inspect import check_entry_point
from launcher.jobs.mlproject import DockerEnv
from launcher.jobs.sources.image import check_image, image_name
from launcher.schema import validate_config
from launcher.spec import LaunchRequest, LaunchSpec

if TYPE_CHECKING:
    from launcher.jobs.sources.base import JobSource, RunSource, SourceFiles
    from launcher.records import JobVersion
    from launcher.workspace import Workspace

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_run_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


@dataclass(frozen=True)
class Resolved:
    spec: LaunchSpec
    #: Writes the run's source tree into the given directory now, while the run folder is made (a local
    #: copy); None when the run has no source tree or its owner makes it (see owner_source).
    materialize: Callable[[Path], None] | None
    #: A source the run's owner checks out during set-up (a git commit: possibly slow, shown as preparing);
    #: its "kind" names the JobSource whose checkout() makes it.
    owner_source: dict[str, str] | None = None
    #: Lines for the run's log before it starts (undeclared MLproject parameters passed on, a command run
    #: through bash, the project's docker_env used).
    notes: tuple[str, ...] = ()


def resolve(workspace: Workspace, request: LaunchRequest) -> Resolved:
    job = workspace.jobs.resolve(request.job) if request.job else None
    job_source = sources.get_source(job.kind) if job else None
    refresh_notes: tuple[str, ...] = ()
    if job is not None and job_source is not None and _runs_latest(workspace, request):
        refreshed = job_source.refresh(workspace, job, strict=request.refresh is True)
        job = refreshed.version or job
        refresh_notes = (refreshed.note,) if refreshed.note else ()
    kind = job.kind if job else None
    run_id = request.run_id or new_run_id()
    run_source = job_source.for_run(workspace, job, request.version) if job is not None and job_source else None
    docker_env = _docker_env(run_source, request)
    resource = _choose_resource(request, job_source, docker_env)
    runner = runners.get_runner(resource)

    if request.docker_image is not None:
        check_image(request.docker_image)
        if not runner.runs_images:
            raise ResourceError(f"docker_image {request.docker_image!r} needs a container resource "
                                f"(resource='local-container'); {resource!r} does not run images")
    if job is not None and job_source is not None and job_source.runs_as_image and not runner.runs_images:
        raise ResourceError(f"job {job.ref} is an {kind} job and runs only on container resources, not {resource!r}")
    if job_source is not None and not job_source.runs_as_image and not runner.runs_source:
        raise ResourceError(f"resource {resource!r} cannot run {kind} jobs")
    if request.version is not None and not (job_source is not None and job_source.takes_version):
        given = f"job {job.ref} is a {kind} job" if job is not None else "no job was given"
        raise SpecError(f"version {request.version!r} applies to {', '.join(sources.versioned_kinds())} jobs "
                        f"only; {given}")
    if job is None and request.docker_image is None and request.entry_point is None:
        raise SpecError("nothing to launch: give a job, a docker_image, or an entry_point")

    if workspace.store.get_run(run_id) is not None:
        raise RunError(f"run_id {run_id!r} is already used by another run; choose another or leave it out")

    dependencies = _dependencies(run_source)
    dependencies.check_installable()  # a conda-only package: one line, before anything runs
    entry_points = run_source.entry_points if run_source is not None else None
    workdir = runner.working_directory(str(workspace.run_dir(run_id)))
    argv, run_config, entry_name, notes = _entry_point(request, job, entry_points, workdir,
                                                       run_source.files if run_source is not None else None)
    if run_source is not None and run_source.files is not None and argv and entry_name is None:
        check_entry_point(argv, run_source.files.exists)
    argv = [*argv, *request.args]

    resource_args = dict(request.resource_args.get(resource, {}))
    if docker_env is not None and resource == runners.LOCAL_CONTAINER:
        resource_args = _with_docker_env(resource_args, docker_env)
        notes = (f"the MLproject's docker_env: its source is built on image {docker_env.image}", *notes)
    foreign = sorted(set(request.resource_args) - set(runners.resource_names()))
    if foreign:
        raise ResourceError(f"resource_args names unknown resource {foreign[0]!r}; "
                            f"expected one of: {', '.join(runners.resource_names())}")
    spec = LaunchSpec(
        run_id=run_id,
        name=request.name or (job.name if job else _image_name(request.docker_image) or run_id),
        project=request.project or (job.project if job else workspace.default_project),
        entity=request.entity or (job.entity if job else workspace.default_entity),
        resource=resource,
        resource_args=resource_args,
        job=job.ref if job else None,
        job_kind=kind,
        source=run_source.facts if run_source is not None else {},
        argv=tuple(argv),
        run_config=run_config,
        requirements=tuple(run_source.requirements if run_source is not None else ()),
        docker_image=request.docker_image or (run_source.image if run_source is not None else None),
        repository=request.repository,
        version=run_source.version if run_source is not None else None,
        entry_point_name=entry_name,
        dependencies=dependencies.to_data(),
    )
    runner.validate(spec)
    notes = (*refresh_notes, *notes)
    if run_source is None:
        return Resolved(spec, None, notes=tuple(notes))
    return Resolved(spec, run_source.copy_into, run_source.owner_plan, tuple(notes))


def _runs_latest(workspace: Workspace, request: LaunchRequest) -> bool:
    """Whether the launch runs a job's latest version (by name alone or `:latest`): only then is an edited
    source snapshotted first; a pinned version (`:v2`, an alias) runs as recorded."""
    from launcher.jobs.refs import LATEST

    return request.refresh is not False and request.job is not None and \
        workspace.jobs.parse(request.job).alias == LATEST


def _dependencies(run_source: RunSource | None) -> DeclaredDependencies:
    if run_source is None:
        return DeclaredDependencies.from_requirements(())
    if run_source.dependencies is not None:
        return DeclaredDependencies.from_data(run_source.dependencies)
    return DeclaredDependencies.from_requirements(run_source.requirements)  # a version from before they were read


def _docker_env(run_source: RunSource | None, request: LaunchRequest) -> DockerEnv | None:
    """The project's docker_env, unless the launch names an image of its own."""
    if run_source is None or run_source.docker_env is None or request.docker_image is not None:
        return None
    return DockerEnv.from_data(run_source.docker_env)


def _with_docker_env(resource_args: dict[str, Any], docker_env: DockerEnv) -> dict[str, Any]:
    """The docker_env's image as the base the project's image is built on (its source added, as `mlflow run`
    does), its volumes and environment, under the launch's own resource args (which win)."""
    merged = dict(resource_args)
    merged.setdefault("base_image", docker_env.image)
    if docker_env.volumes:
        merged["volumes"] = [*docker_env.volumes, *(resource_args.get("volumes") or [])]
    environment = docker_env.container_environment(os.environ)
    if environment:
        merged["env"] = {**environment, **(resource_args.get("env") or {})}
    return merged


def _choose_resource(request: LaunchRequest, job_source: JobSource | None, docker_env: DockerEnv | None) -> str:
    if request.resource is not None:
        if request.resource not in runners.RESOURCES:
            raise ResourceError(f"unknown resource {request.resource!r}; expected one of: "
                                f"{', '.join(runners.resource_names())}")
        return request.resource
    # An MLproject with a docker_env runs in its image by default, as `mlflow run` runs it.
    if request.docker_image is not None or docker_env is not None or (
            job_source is not None and job_source.runs_as_image):
        if runners.LOCAL_CONTAINER in runners.RESOURCES:
            return runners.LOCAL_CONTAINER
        raise ResourceError("image jobs and docker_image need the local-container resource, which is not installed")
    return runners.LOCAL_PROCESS


def _entry_point(request: LaunchRequest, job: JobVersion | None, entry_points: dict[str, Any] | None,
                 workdir: str | None, files: SourceFiles | None
                 ) -> tuple[list[str], dict[str, Any], str | None, tuple[str, ...]]:
    """(argv before overrides.args, the run's config with defaults, the MLproject entry point's name,
    notes for the run's log). An MLproject entry point renders as `mlflow run` renders it: path
    parameters made absolute in the run's working directory (when the resource knows it) and checked to
    exist, number text passed as given, shell commands through bash with every value quoted, undeclared
    parameters appended."""
    requested = list(request.entry_point) if request.entry_point is not None else None
    name = mlproject_entry(requested, job, entry_points)
    if name is not None:
        assert entry_points is not None
        entry = mlproject.EntryPoint.from_data(name, entry_points[name])
        rendered = mlproject.render_entry_point(entry, request.run_config, workdir or "",
                                                exists=_path_check(workdir, files))
        return list(rendered.argv), rendered.config, name, rendered.notes
    if requested is not None:
        argv = list(requested)
    elif job is not None and job.entry_point:
        argv = list(job.entry_point)
    else:
        argv = []  # an image's own command
    if not argv and job is not None and not sources.get_source(job.kind).runs_as_image:
        raise SpecError(f"job {job.ref} has no entry point; give one, e.g. entry_point=['python', 'train.py']")
    schema = job.schema if job is not None and requested is None else None
    return argv, validate_config(schema, request.run_config), None, ()


def _path_check(workdir: str | None, files: SourceFiles | None):
    """Whether a path parameter's (made absolute, or kept relative where the working directory is not
    known here) names something: in the job's source, or on this machine for an absolute path outside it."""
    root = workdir.rstrip("/") + "/" if workdir else None

    def exists(path: str) -> bool:
        if root is not None and path.startswith(root):
            return files.exists(path[len(root):]) if files is not None else False
        if not path.startswith("/"):
            return files.exists(path) if files is not None else False
        return os.path.exists(path)

    return exists


def mlproject_entry(requested: list[str] | None, job: JobVersion | None,
                    entry_points: dict[str, Any] | None) -> str | None:
    """The MLproject entry point a launch runs: the one named by a one-word entry point, or the job's
    default when none is given; None for a command of its own (or no MLproject)."""
    if requested is not None and len(requested) == 1 and entry_points and requested[0] in entry_points:
        return requested[0]
    if requested is None and job is not None and not job.entry_point and entry_points:
        name = job.data.get("default_entry")
        return name if name in entry_points else mlproject_default(entry_points)  # another version may lack it
    if (requested is not None and len(requested) == 1 and entry_points
            and "/" not in requested[0] and "." not in requested[0]):
        raise SpecError(f"entry point {requested[0]!r} is not one of the MLproject's entry points: "
                        f"{', '.join(sorted(entry_points))}")
    return None


def mlproject_default(entry_points: dict[str, Any]) -> str:
    if "main" in entry_points:
        return "main"
    raise SpecError(f"the MLproject has no 'main' entry point; choose one of: {', '.join(sorted(entry_points))}")


def _image_name(image: str | None) -> str | None:
    return image_name(image) or None if image else None
