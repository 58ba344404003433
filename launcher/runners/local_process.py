"""The local-process resource: the entry point runs on this machine under a run supervisor.

The supervisor (launcher/supervisor.py) is a separate small process in its own session; it owns the
program's process group, its output and its final state, so the run survives the launching process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher import states, supervisor
from launcher.environment import run_environment
from launcher.errors import ResourceError
from launcher.processes import process_alive
from launcher.runners.base import ProcessHandle, RunHandle, Runner, check_resource_args

if TYPE_CHECKING:
    from launcher.api import Api
    from launcher.spec import LaunchSpec

ENV_MANAGERS = ("current", "venv")
#: Starts the supervisor without site-packages (-S) and as an imported module, so its bytecode is cached:
#: every launch pays this start-up, so it is kept to the standard library and three small modules.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPERVISOR_BOOTSTRAP = (f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                        "from launcher.supervisor import main; sys.exit(main())")
DEFAULT_GRACE_SECONDS = 10.0
#: A run recorded as starting whose supervisor never reported in after this long is declared failed.
START_TIMEOUT_SECONDS = 60.0


class LocalProcessRunner(Runner):
    name = "local-process"
    resource_arg_keys = ("env", "env_manager", "grace_period")

    def validate(self, spec: LaunchSpec) -> None:
        args = spec.resource_args
        check_resource_args(self.name, args, self.resource_arg_keys)
        env = args.get("env", {})
        if not isinstance(env, Mapping) or not all(isinstance(k, str) and isinstance(v, str | int | float)
                                                   for k, v in env.items()):
            raise ResourceError(f"resource_args local-process.env must map names to string values, got {env!r}")
        manager = args.get("env_manager", "current")
        if manager not in ENV_MANAGERS:
            raise ResourceError(f"resource_args local-process.env_manager {manager!r} is not valid; "
                                f"expected one of: {', '.join(ENV_MANAGERS)}")
        grace = args.get("grace_period", DEFAULT_GRACE_SECONDS)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise ResourceError(f"resource_args local-process.grace_period {grace!r} is not valid; "
                                "expected a number of seconds >= 0")
        if not spec.argv:
            raise ResourceError("local-process needs an entry point to run")
        program = spec.argv[0]
        # A bare name is looked up on PATH (python means the run's interpreter); paths are checked against
        # the job's source when the spec is resolved.
        if "/" not in program and program not in ("python", "python3") and shutil.which(program, path=_path(args)) is None:
            raise ResourceError(f"program {program!r} of the entry point is not found on PATH; give a path such as "
                                f"'./{program}' for a file in the job's source, or install it")

    def start(self, api: Api, spec: LaunchSpec, run_dir: Path) -> RunHandle:
        args = spec.resource_args
        if args.get("env_manager") == "venv":
            (run_dir / supervisor.VENV_FILE).write_text(json.dumps(
                {"envs_dir": str(api.envs_dir), "requirements": list(spec.requirements)}))
        env = dict(os.environ)
        env.update(run_environment(spec, str(run_dir / "config.json")))
        env.update({k: str(v) for k, v in args.get("env", {}).items()})
        # Names this run's processes on the machine (a run id alone is unique only within a workspace):
        # cancel finds with it the processes that left the run's process tree.
        env[supervisor.RUN_DIR_ENV] = str(run_dir)
        with open(run_dir / "supervisor.err", "ab") as errors:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", SUPERVISOR_BOOTSTRAP, *supervisor.supervisor_argv(
                    str(run_dir), spec.run_id, str(api.store.path), str(run_dir / "src"), sys.executable,
                    float(args.get("grace_period", DEFAULT_GRACE_SECONDS)), list(spec.argv))],
                env=env, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                start_new_session=True, close_fds=True)
        return ProcessHandle(process)

    def cancel(self, api: Api, run: Mapping[str, Any], grace_period: float | None) -> None:
        run_dir = api.run_dir(run["id"])
        grace = grace_period if grace_period is not None else float(
            run["spec"].get("resource_args", {}).get("grace_period", DEFAULT_GRACE_SECONDS))
        # The request file comes first: a supervisor that has not yet recorded itself checks for it right
        # after it has, so one of the two always sees the other.
        (run_dir / supervisor.CANCEL_FILE).write_text(json.dumps({"grace_period": grace, "at": time.time()}))
        latest = api.store.get_run(run["id"]) or run
        pid = _live_supervisor(latest)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)  # the supervisor escalates to SIGKILL after the grace period
            return
        if _starting(latest):
            return  # its supervisor is starting and will find the request
        # No supervisor: stop the program's group ourselves.
        pgid = latest["handle"].get("pgid")
        if pgid:
            _stop_group(pgid, grace)
        api.store.transition(run["id"], states.STOPPED, message="stopped by request (its supervisor was gone)")

    def reattach(self, api: Api, run: Mapping[str, Any]) -> None:
        # Judged on the record as it is now, not as it was listed: a run listed while its supervisor had
        # not yet recorded itself has no supervisor pid in `run`, although the supervisor may be running by
        # now. (A supervisor that ends after this read has recorded the end first: the transition below
        # then changes nothing.)
        latest = api.store.get_run(run["id"])
        if latest is None or states.is_terminal(latest["state"]):
            return
        if _live_supervisor(latest) is not None:
            return  # the supervisor is alive and will record the end itself
        if _starting(latest):
            return  # being started right now by another process
        pgid = latest["handle"].get("pgid")
        if pgid:
            _stop_group(pgid, 0.0)
        if (api.run_dir(run["id"]) / supervisor.CANCEL_FILE).exists():
            api.store.transition(run["id"], states.STOPPED, message="stopped by request")
        else:
            api.store.transition(run["id"], states.FAILED,
                                 message="the run's supervisor ended unexpectedly; exit code unknown")


def _path(args: Mapping[str, Any]) -> str | None:
    """The PATH the program will see."""
    return str(args.get("env", {}).get("PATH", os.environ.get("PATH", os.defpath)))


def _starting(run: Mapping[str, Any]) -> bool:
    """The run's supervisor has not recorded itself yet, and may still do so."""
    return "supervisor_start" not in run["handle"] and time.time() - run["created_at"] < START_TIMEOUT_SECONDS


def _live_supervisor(run: Mapping[str, Any]) -> int | None:
    pid = run["handle"].get("supervisor_pid")
    if not process_alive(pid, run["handle"].get("supervisor_start")):
        return None  # gone, or the pid now belongs to another process
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return None  # exited, waiting to be reaped by its parent
    except OSError:
        return None
    return pid


def _stop_group(pgid: int, grace: float) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
