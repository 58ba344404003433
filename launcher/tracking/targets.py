"""Where a run's tracking libraries write: who the run is, its outputs folder, the workspace's MLflow store.

One MLflow store per workspace (not one per run in each checkout, MLflow 3's default), so that
`mlflow ui --backend-store-uri sqlite:////WORKSPACE/mlflow/mlflow.db` shows every launcher run.

Containers reach the same store when the lead's runner bind-mounts `store.folder` (read-write) at the
*same absolute path* inside the container: the tracking URI and the artifact location MLflow records for
each experiment are absolute paths, and both sides must resolve them to the same files. SQLite locking
works across such a mount (one kernel); the folder must be writable by the container's user, since SQLite
creates its journal beside the database. The container's mlflow must be able to use the store's schema
(an older mlflow refuses a store migrated by a newer one)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import TrackingError

#: Characters that would change the meaning of a path inside an SQLAlchemy/MLflow URI.
_URI_SPECIAL = set("?#%")


@dataclass(frozen=True, slots=True)
class TrackedRun:
    """What the tracking libraries are told about a launcher run."""

    run_id: str
    name: str
    project: str
    job: str
    #: The run's outputs folder as the program sees it (LAUNCHER_OUTPUT_DIR; WANDB_DIR by default).
    outputs_dir: Path


@dataclass(frozen=True, slots=True)
class MlflowStore:
    """The workspace's one MLflow tracking store: a SQLite database and an artifact folder beside it."""

    folder: Path

    @classmethod
    def in_workspace(cls, workspace: Path) -> MlflowStore:
        folder = Path(workspace).absolute() / "mlflow"
        if _URI_SPECIAL & set(str(folder)):
            raise TrackingError(f"workspace path {str(workspace)!r} contains one of '?', '#', '%', which "
                                f"MLflow cannot use in a store location; expected a path without them")
        return cls(folder)

    @property
    def database(self) -> Path:
        return self.folder / "mlflow.db"

    @property
    def artifact_root(self) -> Path:
        return self.folder / "artifacts"

    @property
    def tracking_uri(self) -> str:
        """`sqlite:////ABS/PATH/mlflow.db`: SQLAlchemy's form for an absolute path (four slashes)."""
        return f"sqlite:///{self.database}"

    def share_with_containers(self) -> None:
        """Make the store's folder (and its database, once it exists) writable by a container's user, whose
        uid may differ from this process's (a generated image runs as uid 1000): SQLite writes its journal
        beside the database. Created when missing, so that a container can bind-mount it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.artifact_root.mkdir(exist_ok=True)
        for path, mode in ((self.folder, 0o777), (self.artifact_root, 0o777), (self.database, 0o666)):
            try:
                if path.exists() and path.stat().st_mode & 0o777 != mode:
                    os.chmod(path, mode)
            except PermissionError:
                pass  # another user's files: the program's own writes will say so
