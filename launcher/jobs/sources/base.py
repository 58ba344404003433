"""What a kind of job source supplies: how a source becomes a job version, how a run gets the source at
a version (a local copy now, or a checkout by the run's owner during set-up), how to read a file of it,
what names its content for image tags, and a one-line description. The engine never asks which kind it
has: it asks the JobSource (launcher/jobs/sources/__init__.py maps kinds to them)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from launcher.errors import SourceError

if TYPE_CHECKING:
    from launcher.records import JobVersion
    from launcher.workspace import Workspace


class SourceFiles(Protocol):
    """The files of a source at one version, read without writing anything."""

    def read_file(self, path: str) -> str | None:
        """The text of a file (relative slash path), or None when there is none."""

    def exists(self, path: str) -> bool:
        """Whether the path names something inside the source."""


@dataclass(frozen=True)
class NewSource:
    """A user's source read for a new job version."""

    default_name: str
    #: The facts stored as the version's data["source"] (a snapshot digest, url/ref/commit, an image).
    facts: dict[str, Any]
    #: Its files, to read the MLproject and requirements and check entry points; None for an image.
    files: SourceFiles | None
    #: What the source policy skipped (special files), one line each.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSource:
    """A job's source at the version one run uses."""

    facts: dict[str, Any]  # the run spec's `source`
    files: SourceFiles | None
    version: str | None = None  # the branch, tag or commit named (git)
    entry_points: dict[str, Any] | None = None
    requirements: list[str] = field(default_factory=list)
    #: What the source declares it needs (DeclaredDependencies.to_data()), None when never read.
    dependencies: dict[str, Any] | None = None
    #: The MLproject's docker_env (DockerEnv.to_data()), when it has one.
    docker_env: dict[str, Any] | None = None
    #: Writes the source tree into a folder now, while the run folder is made (a local copy).
    copy_into: Callable[[Path], None] | None = None
    #: A plan the run's owner checks out during set-up (slow, so shown as preparing); see checkout().
    owner_plan: dict[str, str] | None = None
    #: The image the run runs, for a source that is an image.
    image: str | None = None


@dataclass(frozen=True)
class Refresh:
    """What `JobSource.refresh` found: the new version to run (or None), and a line to tell the user."""

    version: JobVersion | None
    note: str | None


class JobSource(ABC):
    kind: ClassVar[str]
    #: What a user gives for it (CLI help).
    given_as: ClassVar[str]
    #: The job runs as a Docker image (container resources only), not as a source tree.
    runs_as_image: ClassVar[bool] = False
    #: A launch may name another version (branch, tag, commit) than the job's own.
    takes_version: ClassVar[bool] = False

    @abstractmethod
    def create(self, workspace: Workspace, source: str, *, ref: str | None = None) -> NewSource:
        """Read a user's source for a new job version (SourceError for a source that cannot be used)."""

    @abstractmethod
    def for_run(self, workspace: Workspace, job: JobVersion, version: str | None = None) -> RunSource:
        """The source a run of `job` uses, at `version` when the kind takes versions. Writes nothing."""

    def checkout(self, workspace_home: Path, plan: Mapping[str, str], destination: Path) -> None:
        """Write the source tree an owner plan names into `destination` (in the run's owner)."""
        raise SourceError(f"{self.kind} sources are not checked out by a run's owner")

    def image(self, facts: Mapping[str, Any]) -> str | None:
        """The image a job of this source runs as it is, if any (images given by users are never pruned)."""
        return None

    def refresh(self, workspace: Workspace, job: JobVersion, *, strict: bool = False) -> Refresh:
        """Before a launch of the job's latest version: a new version when the source changed since `job`
        was made (a code job's folder edited), else none. `strict`: a source that can no longer be read is
        an error rather than a note."""
        return Refresh(None, None)

    @abstractmethod
    def source_key(self, facts: Mapping[str, Any]) -> str | None:
        """What names the source's content without reading it (for image tags), or None."""

    @abstractmethod
    def describe(self, facts: Mapping[str, Any]) -> str:
        """One line for a person: where the source comes from and which version."""
