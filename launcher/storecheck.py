"""Noticing a damaged workspace database early, cheaply, and saying what to do.

Opening a workspace (the API, the CLI, the TUI; never a run's owner, which must start fast) runs SQLite's
`PRAGMA quick_check`: every time while the file is small (ALWAYS_BELOW_BYTES: about 1 ms for a typical
workspace, 30 ms for a 28 MB store with 20,000 runs), and for larger files when the last check is more
than CHECK_EVERY_SECONDS old or the file is now smaller than it was then (a truncation never comes from
the launcher: it only grows the file or reuses its pages). A file that is empty or not SQLite at all is
refused before this (launcher/store.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from launcher.errors import StoreError
from launcher.store import Store

CHECK_EVERY_SECONDS = 600.0
ALWAYS_BELOW_BYTES = 64 << 20
MARK_SUFFIX = ".checked"


def check_if_due(store: Store) -> None:
    """Raise StoreError (one line: the file, the first problem, what to do) when a due check fails."""
    mark = Path(store.path + MARK_SUFFIX)
    size = os.path.getsize(store.path)
    try:
        last = json.loads(mark.read_text())
        due = (size < ALWAYS_BELOW_BYTES or time.time() - float(last["at"]) >= CHECK_EVERY_SECONDS
               or size < int(last["size"]))
    except (OSError, ValueError, KeyError, TypeError):
        due = True
    if not due:
        return
    problems = quick_check(store)
    if problems:
        raise StoreError(f"the workspace database {store.path} is damaged ({problems[0]}); run 'launcher doctor' "
                         "to check it, and 'launcher doctor --rebuild' to rebuild the run index from the run folders")
    try:
        mark.write_text(json.dumps({"at": time.time(), "size": size}))
    except OSError:
        pass  # checked again next time


def quick_check(store: Store, full: bool = False) -> list[str]:
    """SQLite's own consistency check: the problems it finds (an empty list when the file is sound)."""
    try:
        rows = store.query("PRAGMA integrity_check" if full else "PRAGMA quick_check")
    except StoreError as error:
        return [str(error)]
    problems = [" ".join(str(row[0]).replace("***", " ").split()) for row in rows]  # SQLite's are multi-line
    return [] if problems == ["ok"] else problems
