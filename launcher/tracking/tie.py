"""Which launcher runs get an MLflow run tied to them, and the tie itself (made by the run's owner).

The rule (decided at launch, cheaply; the MLflow run is created later by the owner during set-up, because
importing mlflow and opening a store takes seconds):

- the user opts in or out with `LAUNCHER_MLFLOW=1` / `LAUNCHER_MLFLOW=0` in the run's environment
  (resource_args env / env_vars, or the launching shell for local-process);
- otherwise a run is tied when its job is an MLflow project (it runs an MLproject entry point), or its
  declared dependencies (requirements.txt, python_env.yaml, conda.yaml, pyproject) name mlflow;
- never when the user chose the MLflow run or experiment by id (`MLFLOW_RUN_ID`, `MLFLOW_EXPERIMENT_ID`).

The tie is made in the store the run logs to: the workspace's one store (targets.MlflowStore), or the
user's own `MLFLOW_TRACKING_URI`. Its id reaches the program as `MLFLOW_RUN_ID`, so an unmodified
`mlflow.start_run()` logs into it. When the store cannot be reached, the run goes on without a tie and the
problem is kept in the tie file, which is what the run's details show for its MLflow metrics.

The tie file (`mlflow.json` in the run folder) is written at launch (`plan`) and completed by
`python -m launcher.tracking.tie create RUN_DIR`, which the owner runs as a set-up command; at the end the
owner runs `... finish RUN_DIR STATE` to end an MLflow run the program left running."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from launcher.errors import TrackingError
from launcher.tracking.targets import MlflowStore, TrackedRun

#: The tie file in a run's folder.
TIE_FILE = "mlflow.json"
#: The user's switch, read from the run's environment.
OPT_VARIABLE = "LAUNCHER_MLFLOW"
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: A requirement that names MLflow: `mlflow`, `mlflow-skinny`, `mlflow[extras]>=3`, ...
_MLFLOW_REQUIREMENT = re.compile(r"^\s*mlflow(?:[-_.]skinny)?\s*(?:[\[<>=!~;@ ]|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MlflowTie:
    """A run's tie: where its MLflow run lives, and its id once the owner made it (or why it could not)."""

    tracking_uri: str
    experiment: str
    #: Whether the store is the workspace's own (created and locked by the launcher).
    workspace_store: bool
    run_id: str
    run_name: str
    project: str
    job: str
    mlflow_run_id: str | None = None
    problem: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> MlflowTie:
        try:
            data = json.loads(text)
            return cls(**{key: data[key] for key in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError) as error:
            raise TrackingError(f"MLflow tie file {text[:80]!r} is not valid ({error})") from None


def names_mlflow(requirements: Iterable[str]) -> bool:
    """Whether a list of requirement strings names the mlflow package."""
    return any(isinstance(line, str) and _MLFLOW_REQUIREMENT.match(line) for line in requirements)


def wants_tie(*, requirements: Iterable[str], mlproject_entry: bool, user_env: Mapping[str, str]) -> bool:
    """The rule above (the user's ids first, then their switch, then the job's nature)."""
    if user_env.get("MLFLOW_RUN_ID") or user_env.get("MLFLOW_EXPERIMENT_ID"):
        return False
    switch = user_env.get(OPT_VARIABLE, "").strip().lower()
    if switch in _YES:
        return True
    if switch in _NO:
        return False
    return mlproject_entry or names_mlflow(requirements)


def plan(run: TrackedRun, store: MlflowStore | None, user_env: Mapping[str, str]) -> MlflowTie | None:
    """The tie to make for a run that wants one (None when its store is unknown)."""
    user_uri = user_env.get("MLFLOW_TRACKING_URI")
    if not user_uri and store is None:
        return None
    tracking_uri = user_uri or (store.tracking_uri if store is not None else "")
    return MlflowTie(tracking_uri=tracking_uri,
                     experiment=user_env.get("MLFLOW_EXPERIMENT_NAME") or run.project,
                     workspace_store=not user_uri, run_id=run.run_id, run_name=run.name, project=run.project,
                     job=run.job)


def write(path: Path, tie: MlflowTie) -> None:
    """Write the tie file whole (a reader never sees half of it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(tie.to_json())
    os.replace(temporary, path)


def read(path: Path) -> MlflowTie | None:
    try:
        return MlflowTie.from_json(Path(path).read_text())
    except (OSError, TrackingError):
        return None


# -- the owner's set-up and end commands (run in a process of their own: mlflow is imported there) ------
def create(path: Path) -> MlflowTie:
    """Make (or find) the tied MLflow run and record its id, or the problem, in the tie file."""
    tie = read(path)
    if tie is None:
        raise TrackingError(f"no MLflow tie file at {path}")
    if tie.mlflow_run_id:
        return tie
    try:
        made = replace(tie, mlflow_run_id=_ensure_run(tie), problem=None)
    except Exception as error:  # noqa: BLE001 - a store of the user's fails in its client's own ways
        reason = str(error) if isinstance(error, TrackingError) else (
            f"MLflow store {tie.tracking_uri}: " + ((str(error).strip().splitlines() or [type(error).__name__])[0])[:300])
        made = replace(tie, problem=f"no MLflow run tied ({reason}); the run goes on, its MLflow metrics are "
                                    "not read")
    write(path, made)
    return made


def _ensure_run(tie: MlflowTie) -> str:
    from launcher.tracking.mlflow_reader import _unreachable_server
    from launcher.tracking.mlflow_run import ensure_mlflow_run, ensure_mlflow_run_at

    run = TrackedRun(run_id=tie.run_id, name=tie.run_name, project=tie.project, job=tie.job,
                     outputs_dir=Path("."))
    if tie.workspace_store:
        store = MlflowStore(Path(tie.tracking_uri[len("sqlite:///"):]).parent)
        mlflow_run_id = ensure_mlflow_run(store, run, tie.experiment)
        store.share_with_containers()  # the database exists now
        return mlflow_run_id
    unreachable = _unreachable_server(tie.tracking_uri)
    if unreachable:
        raise TrackingError(f"MLflow store {tie.tracking_uri}: {unreachable}")
    return ensure_mlflow_run_at(tie.tracking_uri, run, tie.experiment)


def finish(path: Path, state: str) -> None:
    """End the tied MLflow run with the launcher run's end state, if the program left it running."""
    from launcher.tracking.mlflow_run import MlflowRunEnd, finish_mlflow_run_at

    tie = read(path)
    if tie is None or not tie.mlflow_run_id:
        return
    end = {"finished": MlflowRunEnd.FINISHED, "stopped": MlflowRunEnd.KILLED}.get(state, MlflowRunEnd.FAILED)
    finish_mlflow_run_at(tie.tracking_uri, tie.mlflow_run_id, end)


def _quiet() -> None:
    """MLflow and alembic log each store migration and warn about deprecations: the run's log gets only
    the launcher's own line."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    os.environ["MLFLOW_LOGGING_LEVEL"] = "ERROR"  # mlflow configures its loggers when imported
    logging.getLogger("alembic").setLevel(logging.ERROR)
    # A tracking server that stops answering must not hold the run's set-up for MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def main(argv: list[str]) -> int:
    """`create RUN_FOLDER_FILE` or `finish RUN_FOLDER_FILE STATE`; one line on stdout for the run's log."""
    _quiet()
    command, path = argv[0], Path(argv[1])
    try:
        if command == "create":
            tie = create(path)
            if tie.mlflow_run_id:
                print(f"MLflow run {tie.mlflow_run_id} in experiment {tie.experiment!r} of {tie.tracking_uri}")
            return 0
        if command == "finish":
            finish(path, argv[2])
            return 0
    except TrackingError as error:
        print(str(error))
        return 1
    print(f"unknown command {command!r}; expected create or finish")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
