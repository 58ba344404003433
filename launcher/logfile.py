"""The run log file: every line of a run's output with its arrival time and stream, byte-exact.

Each record is one line of the file: a 27-character UTC timestamp, a space, a stream letter, a space, and
the payload bytes exactly as the program wrote them (anything but the newline). An upper-case letter
(O stdout, E stderr, L launcher) means the program's line ended there; a lower-case one marks a fragment
(a line still without its newline, or a piece of a very long line) that the next record of the same
stream continues. Writers never hold output in memory, readers reassemble lines, and the original byte
stream of each program stream can be rebuilt exactly. Only the standard library is used here: the run
supervisor imports this module and must start fast."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

STDOUT, STDERR, LAUNCHER = "stdout", "stderr", "launcher"
_LETTER = {STDOUT: b"O", STDERR: b"E", LAUNCHER: b"L"}
_STREAM = {ord("O"): STDOUT, ord("E"): STDERR, ord("L"): LAUNCHER}
#: Record layout: the timestamp, a space, the stream letter, a space, the payload.
TIMESTAMP_WIDTH = 27
LETTER_AT = TIMESTAMP_WIDTH + 1
PAYLOAD_AT = TIMESTAMP_WIDTH + 3
#: A fragment record is cut at this size so that no record, and no reader buffer, grows without bound.
MAX_RECORD = 1 << 20


def format_timestamp(seconds: float) -> bytes:
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z").encode()


class LogWriter:
    """Appends program output to the run's log file as it arrives, one timestamp per chunk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, stream: str, data: bytes, at: float | None = None) -> None:
        if not data:
            return
        ts = format_timestamp(time.time() if at is None else at)
        letter = _LETTER[stream]
        complete_end = data.rfind(b"\n")
        out = []
        if complete_end >= 0:
            prefix = ts + b" " + letter + b" "
            # One replace for the whole chunk: every line in it shares the arrival time, and the work
            # stays in C, which is what lets capture keep pace with a program printing millions of lines.
            out.append(prefix + data[:complete_end].replace(b"\n", b"\n" + prefix) + b"\n")
        tail = data[complete_end + 1:]
        if tail:
            fragment_prefix = ts + b" " + letter.lower() + b" "
            for start in range(0, len(tail), MAX_RECORD):
                out.append(fragment_prefix + tail[start:start + MAX_RECORD] + b"\n")
        self._write_all(b"".join(out))

    def note(self, text: str) -> None:
        """A line from the launcher itself (build steps, start-up failures, cancel requests)."""
        for line in text.splitlines() or [""]:
            self.write(LAUNCHER, line.encode("utf-8", "replace") + b"\n")

    def _write_all(self, payload: bytes) -> None:
        view = memoryview(payload)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        os.close(self._fd)


class LogLine:
    """One line of output. (A plain slotted class: dataclasses cost the supervisor ~8 ms to import.)"""

    __slots__ = ("timestamp", "stream", "data", "newline")

    def __init__(self, timestamp: str, stream: str, data: bytes, newline: bool = True) -> None:
        self.timestamp = timestamp
        self.stream = stream
        self.data = data
        #: False only for a last line that the program never ended with a newline.
        self.newline = newline

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LogLine) and (self.timestamp, self.stream, self.data, self.newline) == (
            other.timestamp, other.stream, other.data, other.newline)

    def __repr__(self) -> str:
        return f"LogLine({self.timestamp!r}, {self.stream!r}, {self.data!r}, newline={self.newline})"

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class LogReader:
    """Reassembles lines from a log file, from a byte offset on; can be called again as the file grows."""

    def __init__(self, path: str | os.PathLike, offset: int = 0) -> None:
        self.path = os.fspath(path)
        self.offset = offset
        self._pending: dict[str, tuple[str, list[bytes]]] = {}
        self._partial = b""

    def read(self, max_bytes: int = 1 << 22) -> list[LogLine]:
        """Lines completed since the last call (at most about max_bytes of file per call)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1:]
        lines: list[LogLine] = []
        pending = self._pending
        for record in data[:cut].split(b"\n"):
            if len(record) < PAYLOAD_AT - 1:
                continue
            letter = record[LETTER_AT]
            payload = record[PAYLOAD_AT:]
            stream = _STREAM.get(letter & ~0x20)
            if stream is None:
                continue
            started = pending.pop(stream, None)
            if letter & 0x20:  # lower case: a fragment, continued by the next record of its stream
                if started is None:
                    pending[stream] = (record[:TIMESTAMP_WIDTH].decode(), [payload])
                else:
                    started[1].append(payload)
                    pending[stream] = started
            elif started is None:
                lines.append(LogLine(record[:TIMESTAMP_WIDTH].decode(), stream, payload))
            else:
                started[1].append(payload)
                lines.append(LogLine(started[0], stream, b"".join(started[1])))
        return lines

    def flush_pending(self) -> list[LogLine]:
        """Lines the program never ended with a newline; call once the run is over."""
        lines = [LogLine(ts, stream, b"".join(parts), newline=False) for stream, (ts, parts) in self._pending.items()]
        self._pending.clear()
        return lines

    def read_available(self) -> Iterator[LogLine]:
        """Every line completed in the file as it is now (a batch may hold no line, only fragments)."""
        while True:
            before = self.offset
            yield from self.read()
            if self.offset == before:
                return


def iter_lines(path: str | os.PathLike) -> Iterator[LogLine]:
    reader = LogReader(path)
    yield from reader.read_available()
    yield from reader.flush_pending()


def read_stream_bytes(path: str | os.PathLike, streams: tuple[str, ...] = (STDOUT, STDERR)) -> bytes:
    """The program's output rebuilt byte for byte (stdout and stderr interleaved in arrival order)."""
    return b"".join(line.data + (b"\n" if line.newline else b"")
                    for line in iter_lines(path) if line.stream in streams)
