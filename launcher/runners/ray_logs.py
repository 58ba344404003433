"""From a Ray job's log to the run's log file, each character once, across reconnects and restarts.

A Ray job's log is one text stream (Ray sends the driver's stdout and stderr to the same file). Ray
writes a header of its own before the program starts (runtime-env set-up lines, then
"Running entrypoint for job ID: ENTRYPOINT"); the header goes to the run's log as launcher lines and
everything after it as the program's stdout, so the program's output stays byte-exact.

Every (re)connection replays the Ray log from its start. The follower counts the program characters it
has written; after a reconnect, or in a new monitor process (the count is then read back from the run's
log file, which is the truth), it skips that many before writing again, so nothing is written twice.

Characters are counted on text decoded with surrogate escapes, and written back with them: a log whose
bytes are not UTF-8 (fetched raw from the driver's node, since Ray's Jobs API cannot serve it) reaches
the run's log byte for byte, and counts the same in a later monitor."""

from __future__ import annotations

from pathlib import Path

from launcher.logfile import LAUNCHER, STDOUT, LogWriter, iter_lines

HEADER_NOTE_PREFIX = "ray: "


def entrypoint_marker(job_id: str, entrypoint: str) -> str:
    """The line Ray's job supervisor writes just before it starts the entrypoint."""
    return f"Running entrypoint for job {job_id}: {entrypoint}\n"


class LogFollower:
    def __init__(self, writer: LogWriter, job_id: str, entrypoint: str, log_path: Path | None = None) -> None:
        self.writer = writer
        self.marker = entrypoint_marker(job_id, entrypoint)
        #: Program characters already in the run's log, and whether Ray's header is there too.
        self.written = 0
        self.header_written = False
        if log_path is not None and log_path.exists():
            self._read_progress(log_path)
        self.reset()

    def _read_progress(self, log_path: Path) -> None:
        first_marker_line = HEADER_NOTE_PREFIX + self.marker.splitlines()[0]
        output = []
        for line in iter_lines(log_path):
            if line.stream == STDOUT:
                output.append(line.data + (b"\n" if line.newline else b""))
            elif line.stream == LAUNCHER and line.text == first_marker_line:
                self.header_written = True
        self.written = len(b"".join(output).decode("utf-8", "surrogateescape"))
        if self.written:
            self.header_written = True

    def reset(self) -> None:
        """A new stream of the same log starts (from its first character)."""
        self._header: str | None = ""  # None once the header has been passed in this stream
        self._seen = 0  # program characters seen in this stream

    def feed(self, text: str) -> None:
        if self._header is not None:
            self._header += text
            end = self._header.find(self.marker)
            if end < 0:
                return
            end += len(self.marker)
            header, text = self._header[:end], self._header[end:]
            self._header = None
            if not self.header_written:
                self.header_written = True
                self.writer.note("\n".join(HEADER_NOTE_PREFIX + line for line in header.splitlines()))
        if not text:
            return
        skip = max(0, min(len(text), self.written - self._seen))
        self._seen += len(text)
        fresh = text[skip:]
        if fresh:
            self.writer.write(STDOUT, fresh.encode("utf-8", "surrogateescape"))
            self.written += len(fresh)

    def finish(self, full_log: str) -> None:
        """Catch up from the job's complete log once it has ended (what the tail had not delivered yet)."""
        self.reset()
        self.feed(full_log)
        if self._header and not self.header_written:
            # The entrypoint never started (e.g. the runtime environment failed): all of it is Ray's.
            self.header_written = True
            self.writer.note("\n".join(HEADER_NOTE_PREFIX + line for line in self._header.splitlines()))
