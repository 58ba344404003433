"""`launcher doctor`: what is wrong with a workspace and what to do about it, and rebuilding the run
index from the run folders when the database is damaged beyond use.

A run folder holds everything needed to list its run again: its spec (spec.json), its log, and how it
ended (the `ending` file its owner writes before telling the store). Jobs, queues, sweeps and settings
live only in the database: a rebuild says how many of those it could not bring back."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from launcher.diskspace import MIN_FREE_BYTES, RESERVE_FILE, free_bytes
from launcher.errors import LaunchError, StoreError
from launcher.runners.ownership import ENDING_FILE, LOG_FILE, SPEC_FILE, RunFolder
from launcher.states import RunState
from launcher.store import Store
from launcher.storecheck import quick_check

DATABASE = "launcher.db"


@dataclass
class Finding:
    """One thing doctor found: whether it is a problem, and a line for people."""

    ok: bool
    text: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, ok: bool, text: str) -> None:
        self.findings.append(Finding(ok, text))


def examine(home: Path) -> Report:
    """Check the workspace without changing it."""
    report = Report()
    database = home / DATABASE
    try:
        store = Store(database)
    except LaunchError as error:
        report.add(False, f"{error}")
        return report
    try:
        problems = quick_check(store, full=True)
        if problems:
            report.add(False, f"the database {database} is damaged: {problems[0]} ({len(problems)} problem(s)); "
                              "'launcher doctor --rebuild' rebuilds the run index from the run folders")
        else:
            report.add(True, f"the database {database} passes SQLite's integrity check")
        _check_runs(home, store, report)
    finally:
        store.close()
    free = free_bytes(home)
    report.add(free >= MIN_FREE_BYTES, f"{free / 2**20:.0f} MiB free on the workspace's disk")
    report.add((home / RESERVE_FILE).exists(), "the reserve for run endings on a full disk is in place"
               if (home / RESERVE_FILE).exists() else "the reserve for run endings is missing (it was used: free "
               "some space, and it is made again when the workspace is next opened)")
    return report


def _check_runs(home: Path, store: Store, report: Report) -> None:
    try:
        records = {r.id: r for r in store.list_runs()}
    except StoreError as error:
        report.add(False, f"the runs cannot be read: {error}")
        return
    folders = set(os.listdir(home / "runs")) if (home / "runs").is_dir() else set()
    missing = sorted(set(records) - folders)
    unknown = sorted(folders - set(records))
    report.add(not missing, f"{len(records)} run(s) recorded" + (
        f"; {len(missing)} without a run folder: {', '.join(missing[:5])}" if missing else ", each with its folder"))
    if unknown:
        report.add(False, f"{len(unknown)} run folder(s) not in the database: {', '.join(unknown[:5])} "
                          "('launcher doctor --rebuild' lists them again)")
    orphans = [r.id for r in records.values() if r.active and not RunFolder(home / "runs" / r.id).owner_alive()]
    report.add(not orphans, f"{len(orphans)} active run(s) whose owner is gone: {', '.join(orphans[:5])} (opening "
                            "the workspace settles them)" if orphans else "every active run has a live owner")


@dataclass
class Rebuild:
    runs: int
    moved_to: Path
    lost_jobs: bool


def rebuild(home: Path) -> Rebuild:
    """Move the database aside and list every run folder's run again in a new one."""
    database = home / DATABASE
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved_to = home / f"{DATABASE}.damaged-{stamp}"
    had_database = database.exists()
    for suffix in ("", "-wal", "-shm"):
        path = home / f"{DATABASE}{suffix}"
        if path.exists():
            shutil.move(path, home / f"{DATABASE}.damaged-{stamp}{suffix}")
    store = Store(database)
    count = 0
    try:
        runs_dir = home / "runs"
        for name in sorted(os.listdir(runs_dir)) if runs_dir.is_dir() else []:
            if _restore_run(store, RunFolder(runs_dir / name)):
                count += 1
    finally:
        store.close()
    return Rebuild(count, moved_to, had_database)


def _restore_run(store: Store, folder: RunFolder) -> bool:
    try:
        spec = json.loads(Path(folder.file(SPEC_FILE)).read_text())
    except (OSError, ValueError):
        return False
    job = spec.get("job") or (f"image:{spec['docker_image']}" if spec.get("docker_image") else "-")
    if not store.insert_run(run_id=folder.run_id, name=spec.get("name") or folder.run_id,
                            project=spec.get("project") or "default", entity=spec.get("entity") or "-", job=job,
                            resource=spec.get("resource") or "local-process", spec=spec):
        return False
    ending = folder.read_ending()
    if ending is not None:
        store.transition(folder.run_id, RunState.RUNNING)
        store.transition(folder.run_id, ending.state, message=ending.message, exit_code=ending.exit_code)
    elif folder.owner_alive():
        store.transition(folder.run_id, RunState.RUNNING)  # its owner records the end
    else:
        log = Path(folder.file(LOG_FILE))
        ran = log.exists() and log.stat().st_size > 0
        store.transition(folder.run_id, RunState.FAILED if ran else RunState.START_FAILED,
                         message=f"{ENDING_FILE} unknown: the run index was rebuilt from the run folders and this "
                                 "run's end had not been recorded")
    return True
