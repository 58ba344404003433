"""Cleaning up: deleting and archiving runs, collecting old ones, their disk use, and tags and notes.

A run is deleted with everything the launcher kept for it: its folder (log, source copy, outputs), its
record, events and metrics, its ended queue items, and what its resource left behind (a kept container);
images it used are no longer claimed by it (launcher images prune may then remove them). An active run is
never deleted nor archived: cancel it first. Archiving hides a run (and its queue item) from listings
without removing anything."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from launcher.errors import LaunchError, RunError, SpecError
from launcher.records import RunRecord
from launcher.workspace import Workspace

#: Tags are short words (filters match them whole: tag:best).
MAX_TAG_LENGTH = 64
MAX_NOTE_LENGTH = 10_000


@dataclass(frozen=True)
class Refusal:
    run_id: str
    reason: str


@dataclass(frozen=True)
class CleanupReport:
    done: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()
    #: Bytes of run folders removed (or that would be, for a dry run).
    freed: int = 0
    dry_run: bool = False
    sizes: dict[str, int] = field(default_factory=dict)


def folder_size(path: str | os.PathLike[str]) -> int:
    """Bytes a folder takes (files and links, not following links)."""
    total = 0
    for directory, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total


def disk_usage(workspace: Workspace, run_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Bytes each run's folder takes (every run's, or those named)."""
    wanted = list(run_ids) if run_ids is not None else (
        sorted(os.listdir(workspace.runs_dir)) if workspace.runs_dir.is_dir() else [])
    return {run_id: folder_size(workspace.run_dir(run_id)) for run_id in wanted}


def _records(workspace: Workspace, run_ids: Iterable[str]) -> list[RunRecord]:
    records = []
    for run_id in dict.fromkeys(run_ids):
        record = workspace.store.get_run(run_id)
        if record is None:
            raise RunError(f"run {run_id!r} does not exist (see 'launcher runs')")
        records.append(record)
    return records


def delete_runs(workspace: Workspace, run_ids: Iterable[str], *, dry_run: bool = False) -> CleanupReport:
    """Delete ended runs (all the names are checked first: an unknown one deletes nothing)."""
    from launcher.runners import get_runner

    done, refused, sizes = [], [], {}
    for record in _records(workspace, run_ids):
        if record.active:
            refused.append(Refusal(record.id, f"run {record.id} is {record.state}; cancel it first"))
            continue
        folder = workspace.run_dir(record.id)
        sizes[record.id] = folder_size(folder) if folder.exists() else 0
        if dry_run:
            done.append(record.id)
            continue
        try:
            get_runner(record.resource).forget(workspace, record)
        except ImportError:
            pass  # a resource not installed here left nothing here to remove
        except LaunchError as error:
            refused.append(Refusal(record.id, f"run {record.id} cannot be deleted now: {error}"))
            continue
        if workspace.store.delete_run(record.id):
            shutil.rmtree(folder, ignore_errors=True)
            done.append(record.id)
        else:
            refused.append(Refusal(record.id, f"run {record.id} started again meanwhile"))
    return CleanupReport(tuple(done), tuple(refused), sum(sizes[r] for r in done), dry_run, sizes)


def archive_runs(workspace: Workspace, run_ids: Iterable[str], *, archived: bool = True) -> CleanupReport:
    """Hide ended runs (and their ended queue items) from listings, or show them again."""
    done, refused = [], []
    for record in _records(workspace, run_ids):
        if record.active and archived:
            refused.append(Refusal(record.id, f"run {record.id} is {record.state}; it can be archived once it ends"))
            continue
        workspace.store.set_run_fields(record.id, archived=int(archived))
        workspace.store.execute("UPDATE queue_items SET archived=? WHERE run_id=? AND state IN "
                                "('finished', 'failed', 'cancelled')", (int(archived), record.id))
        done.append(record.id)
    return CleanupReport(tuple(done), tuple(refused))


def collect_garbage(workspace: Workspace, *, older_than: float, keep_failed: bool = False,
                    dry_run: bool = False) -> CleanupReport:
    """Delete ended runs that ended more than `older_than` seconds ago (failed ones kept on request)."""
    if not (older_than >= 0) or older_than == float("inf"):
        raise SpecError(f"age {older_than!r} is not valid; expected a finite number of seconds >= 0")
    cutoff = time.time() - older_than
    old = [r.id for r in workspace.store.list_runs()
           if r.done and (r.ended_at or r.created_at) < cutoff and not (keep_failed and r.state.is_failure())]
    return delete_runs(workspace, old, dry_run=dry_run)


def tag_run(workspace: Workspace, run_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> RunRecord:
    [record] = _records(workspace, [run_id])
    tags = list(record.tags)
    for tag in add:
        check_tag(tag)
        if tag not in tags:
            tags.append(tag)
    tags = [t for t in tags if t not in set(remove)]
    workspace.store.set_run_fields(record.id, tags=json.dumps(tags))
    return _records(workspace, [run_id])[0]


def note_run(workspace: Workspace, run_id: str, note: str | None) -> RunRecord:
    [record] = _records(workspace, [run_id])
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH):
        raise SpecError(f"note is not valid; expected text of at most {MAX_NOTE_LENGTH} characters")
    workspace.store.set_run_fields(record.id, note=note.strip() if note and note.strip() else None)
    return _records(workspace, [run_id])[0]


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH or any(
            c.isspace() or ord(c) < 32 or c in ",:" for c in tag):
        raise SpecError(f"tag {tag!r} is not valid; expected a word of at most {MAX_TAG_LENGTH} characters "
                        "without spaces, commas or colons")
    return tag


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '45s' (or plain seconds) as seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    value = text.strip().lower()
    try:
        number = float(value[:-1]) if value and value[-1] in units else float(value)
    except ValueError:
        number = -1.0
    seconds = number * units.get(value[-1:], 1) if value else -1.0
    if not (0 <= seconds < float("inf")):
        raise SpecError(f"age {text!r} is not valid; expected e.g. 30d, 12h, 90m or a number of seconds")
    return seconds
