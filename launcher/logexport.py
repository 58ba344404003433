"""A run's log written out as text, line by line from the file (never all of it in memory).

Two renderings: the program's own bytes (saving a log: what `launcher logs RUN` prints, with the launcher's
notes kept as `[launcher] ...` lines), or the text the log pane shows (a pager: colour codes gone, progress
bars at their last state, local times of day, the pane's stream column). Either can carry timestamps and
a stream marker per line, and can be limited to the lines a filter shows or a search matches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from launcher.logfile import LAUNCHER, STDERR, STDOUT, iter_lines
from launcher.logsearch import LineFilter
from launcher.logtext import local_time_of_day, search_pattern, visible_text

#: Stream markers of a saved log: the letters of the log file's own format.
SAVED_MARKERS = {STDOUT: b"O ", STDERR: b"E ", LAUNCHER: b"L "}
#: Stream markers as the log pane shows them: a letter for what is not stdout.
SHOWN_MARKERS = {STDOUT: b"  ", STDERR: b"E ", LAUNCHER: b"L "}
#: Without markers, the launcher's notes still say whose they are (as `launcher logs` prints them).
NOTE_PREFIX = b"[launcher] "
#: Bytes gathered before each write.
WRITE_BYTES = 1 << 20


@dataclass(frozen=True)
class LogExport:
    timestamps: bool = False
    markers: bool = False
    #: The text the pane shows rather than the program's bytes.
    as_shown: bool = False
    line_filter: LineFilter = field(default_factory=LineFilter)
    #: Only the lines whose shown text holds this (any case).
    term: str = ""

    def lines(self, path: str | os.PathLike) -> Iterator[bytes]:
        """Each line of the log as this export writes it, newline included (none after a last line the
        program never ended, when writing its bytes)."""
        pattern = search_pattern(self.term)
        line_filter = None if self.line_filter.shows_all else self.line_filter
        markers = SHOWN_MARKERS if self.as_shown else SAVED_MARKERS
        for line in iter_lines(path):
            if line_filter is not None and not line_filter.shows(line.stream, line.data):
                continue
            text = None
            if pattern is not None or self.as_shown:
                text = visible_text(line.data)
                if pattern is not None and not pattern.search(text):
                    continue
            prefix = b""
            if self.timestamps:
                stamp = local_time_of_day(line.timestamp) if self.as_shown else line.timestamp
                prefix = stamp.encode() + b" "
            if self.markers:
                prefix += markers[line.stream]
            elif line.stream == LAUNCHER:
                prefix += NOTE_PREFIX
            if self.as_shown:
                yield prefix + (text or "").encode() + b"\n"
            else:
                yield prefix + line.data + (b"\n" if line.newline else b"")

    def write(self, path: str | os.PathLike, out: BinaryIO) -> int:
        """Write the export of the log at `path` to `out`; the number of bytes written."""
        written = 0
        batch: list[bytes] = []
        size = 0
        for text in self.lines(path):
            batch.append(text)
            size += len(text)
            if size >= WRITE_BYTES:
                out.write(b"".join(batch))
                written += size
                batch, size = [], 0
        out.write(b"".join(batch))
        return written + size
