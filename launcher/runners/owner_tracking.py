"""The tracking work of a run's owner, the same for every resource:

- during set-up, the MLflow run tied to the launcher run is made (launcher/tracking/tie.py decided at
  launch whether the run gets one, and wrote the tie file); its id goes to the program as MLFLOW_RUN_ID.
  It is made by a set-up command in a process of its own: importing mlflow takes seconds and much memory,
  which the owner should not carry for the whole run (nor may it: a local-process owner runs without
  site-packages);
- at the end, TensorBoard event files the program wrote under its working directory on this machine are
  moved into the outputs folder (OUTPUTS_DIR/COLLECTED_DIR, same relative paths), before the ending is
  recorded, so that an ended run's outputs hold them;
- after the ending is recorded, a tied MLflow run the program left running is ended with the run's state.

Standard library only; nothing is imported unless the run needs it."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs every owner milliseconds to import
if TYPE_CHECKING:
    from launcher.runners.ownership import SetupContext as OwnerContext

#: The tie file (launcher/tracking/tie.py TIE_FILE).
TIE_FILE = "mlflow.json"
#: Where event files found under the working directory go, inside the outputs folder.
COLLECTED_DIR = "tensorboard-workdir"
EVENT_FILE_PREFIX = "events.out.tfevents."
#: Folders of the working directory that are never searched for event files.
SKIPPED_FOLDERS = (".git", "__pycache__", ".venv", "node_modules")
#: How long ending a tied MLflow run may take (importing mlflow, reaching its store).
FINISH_SECONDS = 120.0


def _tie_command(*arguments: str) -> list[str]:
    from launcher.runners.ownership import PACKAGE_PARENT

    bootstrap = (f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                 "from launcher.tracking.tie import main; sys.exit(main(sys.argv[1:]))")
    # -I: the launcher's own interpreter and packages, whatever the run's environment says.
    return [sys.executable, "-I", "-c", bootstrap, *arguments]


def tie_pending(folder) -> bool:
    """Whether set-up must make an MLflow run (cheap: every owner asks)."""
    return os.path.exists(folder.file(TIE_FILE))


def tie_mlflow_run(context: OwnerContext) -> None:
    """Make the tied MLflow run; on success the program gets MLFLOW_RUN_ID. A store that cannot be used
    leaves the run untied: the tie file and a note in the log say why, and the run goes on."""
    import json

    from launcher.runners.ownership import StartFailed

    folder = context.folder
    path = folder.file(TIE_FILE)
    context.step("making the MLflow run tied to this run")
    try:
        context.run_setup(_tie_command("create", path), grace=5.0, cwd=folder.source)
    except StartFailed as error:
        context.note(f"no MLflow run tied ({error}); the run goes on, its MLflow metrics are not read")
        return
    try:
        with open(path, encoding="utf-8") as f:
            tie = json.load(f)
    except (OSError, ValueError):
        return
    if tie.get("mlflow_run_id"):
        context.program_env["MLFLOW_RUN_ID"] = tie["mlflow_run_id"]
    elif tie.get("problem"):
        context.note(tie["problem"])


def collect_event_files(context: OwnerContext, working_dir: str | None) -> None:
    """Move TensorBoard event files from the program's working directory into the outputs folder."""
    if not working_dir or not os.path.isdir(working_dir):
        return
    target_root = os.path.join(context.folder.outputs, COLLECTED_DIR)
    moved = 0
    try:
        for folder, subfolders, files in os.walk(working_dir):
            subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
            for name in files:
                if not name.startswith(EVENT_FILE_PREFIX):
                    continue
                source = os.path.join(folder, name)
                target = os.path.join(target_root, os.path.relpath(source, working_dir))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                _move(source, target)
                moved += 1
    except OSError as error:
        context.note(f"TensorBoard event files could not all be moved into the run's outputs ({error})")
    if moved:
        context.note(f"moved {moved} TensorBoard event file{'s' if moved > 1 else ''} from the working "
                     f"directory into outputs/{COLLECTED_DIR}/")


def _move(source: str, target: str) -> None:
    try:
        os.replace(source, target)  # the same file system: nothing is copied
    except OSError:
        import shutil

        shutil.move(source, target)


def end_mlflow_run(context: OwnerContext, state: str) -> None:
    """End the tied MLflow run with the run's end state, if the program left it running (an owner that
    picked the run up after another's end does it too: the tie file says whether there is one)."""
    if not tie_pending(context.folder):
        return
    import json
    import subprocess

    try:
        with open(context.folder.file(TIE_FILE), encoding="utf-8") as f:
            if not json.load(f).get("mlflow_run_id"):
                return
    except (OSError, ValueError):
        return

    try:
        done = subprocess.run(_tie_command("finish", context.folder.file(TIE_FILE), state),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=FINISH_SECONDS,
                              cwd=context.folder.path)
    except (OSError, subprocess.TimeoutExpired) as error:
        context.note(f"the tied MLflow run could not be ended ({error})")
        return
    if done.returncode != 0:
        said = done.stdout.decode("utf-8", "replace").strip().splitlines()
        context.note(f"the tied MLflow run could not be ended: {said[-1] if said else done.returncode}")
