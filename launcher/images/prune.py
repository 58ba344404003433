"""Removing old images the launcher built (`launcher/<job>:<hash>` tags), keeping the newest per job.

Every code change of a container job builds a new image and nothing removed the old ones. `prune_images`
keeps, per job repository, the N most recent images (recent: built, or used by a run of this workspace,
whichever is later) and removes the rest, except images that must stay whatever their age:
- an image of a run of this workspace that is still active (starting or running), including the image a
  starting run is about to build or use (computed from its container plan, as its supervisor does);
- the base image generated Dockerfiles start from (the workspace's, and that of every active run);
- images the user gave (docker_image=, image jobs): never the launcher's to remove.
Built images are shared between workspaces by content (one tag per job name and content hash), so a prune
covers every launcher-built image on the engine, whichever workspace built it; only this workspace's runs
count as recent use. Removal is by tag, never forced: an image a container (of any workspace) still uses stays, and the
engine removes an image only with its last tag, taking its unused untagged build parents with it.
The space freed is counted from the engine's own record of deleted images and their layer sizes; a dry
run simulates the same rules on the engine's image graph."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.errors import LaunchError

if TYPE_CHECKING:
    from launcher.containers.engine import Engine
    from launcher.workspace import Workspace

#: Images kept per job by default: the newest, and the one before it, so going back one version of a
#: job (a revert, the previous commit of a branch) reuses its image instead of rebuilding it.
DEFAULT_KEEP = 2
REPOSITORY_PREFIX = "launcher/"
#: What image_repo() makes of a job's name: launcher/<lowercase letters, digits, . _ ->.
_BUILT_TAG = re.compile(r"^launcher/[a-z0-9._-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class PruneError(LaunchError):
    """A prune request that cannot be carried out as given."""


@dataclass
class Removal:
    """One launcher-built tag removed (or, in a dry run, that would be)."""

    tag: str
    image_id: str
    #: Bytes of image layers deleted with it (0 when other tags keep the image).
    freed: int
    deleted_ids: list[str] = field(default_factory=list)


@dataclass
class Kept:
    """A tag older than the N newest that stays, and why."""

    tag: str
    reason: str


@dataclass
class PruneReport:
    dry_run: bool
    keep: int
    removed: list[Removal] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(removal.freed for removal in self.removed)


def parse_keep(value: Any) -> int:
    """The number of images to keep per job: a whole number of 1 or more (text as typed on a CLI too)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d+", text) or int(text) < 1:
        raise PruneError(f"keep must be a whole number of 1 or more (images kept per job); got {value!r}")
    return int(text)


def prune_images(workspace: Workspace, *, keep: int | str = DEFAULT_KEEP, dry_run: bool = False, job: str | None = None,
                 engine: Engine | None = None) -> PruneReport:
    """Remove launcher-built images of every job (or of `job` only: its name, or `launcher/<name>`) except
    the `keep` newest per job and those that must stay (see the module's docstring)."""
    keep = parse_keep(keep)
    repository = _repository(job)
    if engine is None:
        from launcher.containers.engine import Engine

        engine = Engine()
    engine.ping(timeout=2)

    graph = _Graph(engine.images(with_intermediate=True), engine.all_containers())
    protected = _protected(workspace, engine)
    last_used = _last_used(workspace)
    report = PruneReport(dry_run=dry_run, keep=keep)

    for repo, images in sorted(_built_images(graph, repository).items()):
        ranked = sorted(images, key=lambda image_id: _recency(engine, graph, image_id, repo, last_used),
                        reverse=True)
        for image_id in ranked[keep:]:
            for tag in sorted(t for t in graph.tags[image_id] if t.startswith(repo + ":")):
                reason = protected.get(tag) or protected.get(image_id) or protected.get(repo + ":*")
                if reason is not None:
                    report.kept.append(Kept(tag, reason))
                    continue
                _remove(engine, graph, tag, image_id, dry_run, report)
    return report


def _repository(job: str | None) -> str | None:
    if job is None:
        return None
    name = job.strip()
    repo = name if name.startswith(REPOSITORY_PREFIX) else REPOSITORY_PREFIX + name
    if not _BUILT_TAG.match(repo + ":x"):
        raise PruneError(f"job {job!r} is not the name of a launcher image repository; expected a job name like "
                         "'hello' or 'launcher/hello' (see: docker images 'launcher/*')")
    return repo


def _built_images(graph: _Graph, repository: str | None) -> dict[str, list[str]]:
    """Image ids per launcher repository (`launcher/<job>`), from their tags."""
    found: dict[str, list[str]] = {}
    for image_id, tags in graph.tags.items():
        for tag in tags:
            if not _BUILT_TAG.match(tag):
                continue
            repo = tag.rsplit(":", 1)[0]
            if repository is not None and repo != repository:
                continue
            if image_id not in found.setdefault(repo, []):
                found[repo].append(image_id)
    return found


def _recency(engine: Engine, graph: _Graph, image_id: str, repo: str, last_used: dict[str, float]) -> tuple:
    """When the image was built or last used by a run here, whichever is later; then its exact build time
    (the engine's listing has whole seconds only; two quick builds can share one)."""
    used = max((last_used.get(tag, 0.0) for tag in graph.tags[image_id] if tag.startswith(repo + ":")),
               default=0.0)
    created = float(graph.created.get(image_id, 0))
    info = engine.image(image_id) or {}
    return max(created, used), _timestamp(str(info.get("Created", ""))), image_id


def _timestamp(text: str) -> float:
    """Seconds since the epoch of an engine time (RFC 3339, nanoseconds, trailing zeros trimmed); 0 if
    unreadable."""
    from datetime import datetime

    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if found is None:
        return 0.0
    zone = "+00:00" if found.group(3) == "Z" else found.group(3)
    whole = datetime.fromisoformat(found.group(1) + zone).timestamp()
    return whole + float("0." + (found.group(2) or "0"))


def _protected(workspace: Workspace, engine: Engine) -> dict[str, str]:
    """Tags and image ids that stay, each with the reason."""
    from launcher.runners.local_container import base_image

    protected: dict[str, str] = {}
    for image in _given_images(workspace):
        protected.setdefault(image, "given by the user (docker_image or an image job)")
    base = base_image(workspace, {})
    protected.setdefault(base, "the workspace's base image")
    from launcher.runners.local_container import ContainerHandle

    for run in workspace.store.list_runs(active_only=True):
        reason = f"used by active run {run.id}"
        image = ContainerHandle.of(run).image
        if image:
            protected.setdefault(image, reason)
        plan = _container_plan(workspace.run_dir(run.id))
        image_plan = (plan.get("image") or {}) if plan else {}
        build = image_plan.get("build")
        if build is None:
            inputs = image_plan.get("inputs")
            if inputs:  # its source is being checked out: the image is not known yet
                protected.setdefault(inputs["base_image"], f"base image of active run {run.id}")
                protected.setdefault(inputs["repo"] + ":*", reason)
            continue
        protected.setdefault(build["base_image"], f"base image of active run {run.id}")
        for tag in _planned_tags(engine, build):
            protected.setdefault(tag, reason)
    return protected


def _planned_tags(engine: Engine, build: dict[str, Any]) -> list[str]:
    """The tag(s) a starting run builds or reuses; its whole repository if that cannot be worked out now."""
    from launcher.images.image import image_hash, push_target

    try:
        tag = image_hash(engine, build)
    except (LaunchError, OSError):
        return [build["repo"] + ":*"]
    pushed = push_target(build, tag)
    return [f"{build['repo']}:{tag}", *([pushed] if pushed else [])]


def _container_plan(run_dir: Path) -> dict[str, Any] | None:
    from launcher.runners.container_owner import PLAN_FILE

    try:
        return json.loads((run_dir / PLAN_FILE).read_text())
    except (OSError, ValueError):
        return None


def _given_images(workspace: Workspace) -> set[str]:
    images = {row[0] for row in workspace.store.query(
        "SELECT DISTINCT json_extract(spec, '$.docker_image') FROM runs "
        "WHERE json_extract(spec, '$.docker_image') IS NOT NULL")}
    from launcher.jobs.sources import SOURCES, get_source

    imaged = [kind for kind in SOURCES if get_source(kind).runs_as_image]
    marks = ", ".join("?" for _ in imaged)
    for row in workspace.store.query("SELECT j.kind, v.data FROM job_versions v JOIN jobs j ON j.id = v.job_id "
                                     f"WHERE j.kind IN ({marks})", tuple(imaged)):
        try:
            image = get_source(row[0]).image(json.loads(row[1]).get("source") or {})
        except (ValueError, AttributeError):
            continue
        if image:
            images.add(image)
    return images


def _last_used(workspace: Workspace) -> dict[str, float]:
    """For each image tag runs of this workspace built or reused, the time of the latest such run (runs
    of a given image do not count: that image is the user's, and kept anyway)."""
    rows = workspace.store.query("SELECT json_extract(handle, '$.image'), MAX(created_at) FROM runs "
                           "WHERE json_extract(handle, '$.image') IS NOT NULL "
                           "AND json_extract(spec, '$.docker_image') IS NULL GROUP BY 1")
    return {row[0]: float(row[1]) for row in rows}


def _remove(engine: Engine, graph: _Graph, tag: str, image_id: str, dry_run: bool, report: PruneReport) -> None:
    from launcher.containers.engine import EngineError

    if dry_run:
        problem = graph.conflict(tag, image_id)
        if problem is not None:
            report.kept.append(Kept(tag, problem))
            return
        deleted = graph.simulate_delete(tag, image_id)
    else:
        try:
            record = engine.delete_image(tag)
        except EngineError as error:
            if error.status != 409:
                raise
            report.kept.append(Kept(tag, str(error).splitlines()[0]))
            return
        deleted = [item["Deleted"] for item in record if item.get("Deleted")]
    report.removed.append(Removal(tag, image_id, sum(graph.own_size(i) for i in deleted), deleted))


class _Graph:
    """The engine's images with their tags, parents, sizes and users, as removal rules need them."""

    def __init__(self, images: Iterable[dict[str, Any]], containers: Iterable[dict[str, Any]]) -> None:
        self.tags: dict[str, set[str]] = {}
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}
        self.created: dict[str, int] = {}
        self.children: dict[str, set[str]] = {}
        for image in images:
            image_id = image["Id"]
            self.tags[image_id] = {t for t in image.get("RepoTags") or [] if t != "<none>:<none>"}
            self.size[image_id] = int(image.get("Size") or 0)
            self.created[image_id] = int(image.get("Created") or 0)
            if image.get("ParentId"):
                self.parent[image_id] = image["ParentId"]
                self.children.setdefault(image["ParentId"], set()).add(image_id)
        self.used = {c.get("ImageID") for c in containers}

    def own_size(self, image_id: str) -> int:
        """Bytes of the image's own layer: a build's image size includes its parent's."""
        parent = self.parent.get(image_id)
        if parent is None or parent not in self.size:
            return self.size.get(image_id, 0)
        return max(0, self.size.get(image_id, 0) - self.size[parent])

    def conflict(self, tag: str, image_id: str) -> str | None:
        """Why the engine would refuse to remove this tag (its last one, and a container uses it)."""
        if self.tags.get(image_id) == {tag} and image_id in self.used:
            return "a container uses it"
        return None

    def simulate_delete(self, tag: str, image_id: str) -> list[str]:
        """The image ids removing this tag would delete, by the engine's rules: the image once its last
        tag is gone, unless it has children or a container uses it; then each parent left untagged,
        childless and unused."""
        self.tags[image_id].discard(tag)
        deleted: list[str] = []
        current: str | None = image_id
        while current is not None and not self.tags.get(current) and not self.children.get(current) \
                and current not in self.used and current in self.size:
            deleted.append(current)
            parent = self.parent.get(current)
            if parent is not None:
                self.children.get(parent, set()).discard(current)
            current = parent
        return deleted


def format_size(size: float) -> str:
    """Bytes as people read them (decimal units, as docker prints sizes)."""
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
