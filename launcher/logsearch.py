"""Whole-log line numbers, counts and search, over a run's log file (format: launcher/logfile.py).

Line numbers are those of `launcher logs RUN`: the n-th line is the one ended by the n-th record with an
upper-case stream letter (a fragment record, lower-case, is continued by the next record of its stream), and
the lines a finished program never ended come last. Counting and searching work on whole chunks of the file
with bytes methods, which run in C: a search of a 100 MB log takes a fraction of a second. A line is looked
at on its own only when its bytes are not plain printable ASCII (colour codes, tabs, carriage returns,
UTF-8), so that what matches is always what the log pane shows (launcher/logtext.py), or when its chunk
holds fragment records. Only the standard library and the engine's own modules: no UI here."""

from __future__ import annotations

import bisect
import os
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from launcher.logfile import (
    LAUNCHER,
    LETTER_AT,
    MAX_RECORD,
    PAYLOAD_AT,
    STDERR,
    STDOUT,
    TIMESTAMP_WIDTH,
    LogLine,
    LogReader,
)
from launcher.logtext import PLAIN_BYTES, search_pattern, visible_text
from launcher.metrics import MARKER

#: Bytes of log scanned per step: small enough that a step holds the interpreter lock a few milliseconds.
SCAN_BYTES = 1 << 20
#: More than the longest record (logfile.MAX_RECORD plus its prefix): a step reads this much when its
#: bytes hold no whole record.
LONGEST_RECORD = MAX_RECORD + (1 << 12)
STREAM_OF_LETTER = {ord("O"): STDOUT, ord("E"): STDERR, ord("L"): LAUNCHER}
LETTER_OF_STREAM = {stream: letter for letter, stream in STREAM_OF_LETTER.items()}
#: A fragment record: the end of its timestamp, then a lower-case stream letter. A hit is a record only if
#: it starts the chunk or follows a newline (payloads hold no newline); see _fragment_records.
_FRAGMENT = re.compile(rb"Z [oel] ")
#: Bytes that make a line show differently from its bytes (see logtext.PLAIN_BYTES).
_NOT_PLAIN = re.compile(rb"[^\x20-\x7e\n]")
_NOT_PLAIN_TABLE = PLAIN_BYTES + b"\n"


class StreamFilter(StrEnum):
    """Which of the program's streams a log view shows. The launcher's own notes show under every filter:
    they say why a run stopped or failed, whichever stream the reader is looking at."""

    ALL = "all"
    STDOUT = "stdout"
    STDERR = "stderr"

    def admits(self, stream: str) -> bool:
        return self is StreamFilter.ALL or stream == LAUNCHER or stream == self.value

    def following(self) -> StreamFilter:
        """The next filter in the cycle all -> stdout -> stderr -> all."""
        members = list(StreamFilter)
        return members[(members.index(self) + 1) % len(members)]


@dataclass(frozen=True)
class LineFilter:
    """The lines a view shows: by stream, and with or without `@metrics {json}` lines (on stdout)."""

    streams: StreamFilter = StreamFilter.ALL
    hide_metrics: bool = False

    @property
    def shows_all(self) -> bool:
        return self.streams is StreamFilter.ALL and not self.hide_metrics

    def shows(self, stream: str, data: bytes) -> bool:
        if not self.streams.admits(stream):
            return False
        return not (self.hide_metrics and stream == STDOUT and data.startswith(MARKER))


@dataclass(frozen=True)
class LogQuery:
    """A search: lines whose shown text holds `term` (any case), among the lines the filter shows."""

    term: str
    filter: LineFilter = field(default_factory=LineFilter)

    def __post_init__(self) -> None:
        if not self.term:
            raise ValueError("a log search needs a term")

    def matches(self, stream: str, data: bytes) -> bool:
        pattern = search_pattern(self.term)
        return self.filter.shows(stream, data) and pattern is not None and pattern.search(visible_text(data)) is not None


class Checkpoint(NamedTuple):
    """A record boundary of the log, with no line in progress there, and the number of the next line."""

    line: int
    offset: int


class Match(NamedTuple):
    """A matching line: its number and the offset of its first record."""

    line: int
    offset: int


def _fragment_records(chunk: bytes) -> list[int]:
    """Offsets of the fragment records in a chunk that starts at a record boundary."""
    starts = []
    for hit in _FRAGMENT.finditer(chunk):
        start = hit.start() - (TIMESTAMP_WIDTH - 1)
        if start == 0 or (start > 0 and chunk[start - 1] == 0x0A):
            starts.append(start)
    return starts


def _first_line_record(chunk: bytes, stream: str) -> bool:
    """Whether the chunk holds a record that ends a line of this stream."""
    needle = b"Z " + bytes((LETTER_OF_STREAM[stream],)) + b" "
    at = chunk.find(needle)
    while at >= 0:
        start = at - (TIMESTAMP_WIDTH - 1)
        if start == 0 or (start > 0 and chunk[start - 1] == 0x0A):
            return True
        at = chunk.find(needle, at + 1)
    return False


def whole_records(path: str | os.PathLike, start: int, end: int | None = None) -> int:
    """The offset just past the last whole record of the file between start and end (default: its end)."""
    size = os.stat(path).st_size if end is None else end
    with open(path, "rb") as f:
        at = size
        while at > start:
            piece = max(start, at - (1 << 16))
            f.seek(piece)
            data = f.read(at - piece)
            cut = data.rfind(b"\n")
            if cut >= 0:
                return piece + cut + 1
            at = piece
    return start


def record_after(path: str | os.PathLike, offset: int) -> int:
    """The first record boundary at or after `offset` (the end of the file's whole records at most)."""
    if offset <= 0:
        return 0
    with open(path, "rb") as f:
        f.seek(offset - 1)
        at = offset - 1
        while True:
            data = f.read(1 << 16)
            if not data:
                return whole_records(path, 0)
            cut = data.find(b"\n")
            if cut >= 0:
                return at + cut + 1
            at += len(data)


class NumberedReader(LogReader):
    """A LogReader that knows the number of the next line it hands out, and can jump ahead, counting the
    lines it jumps over exactly without parsing them."""

    def __init__(self, path: str | os.PathLike, offset: int = 0, line: int = 0) -> None:
        super().__init__(path, offset)
        #: The number of the next line read() or flush_pending() returns.
        self.line = line

    def read(self, max_bytes: int = 1 << 22) -> list[LogLine]:
        lines = super().read(max_bytes)
        self.line += len(lines)
        return lines

    def flush_pending(self) -> list[LogLine]:
        lines = super().flush_pending()
        self.line += len(lines)
        return lines

    @property
    def next_record(self) -> int:
        """The offset of the first record not parsed yet (the reader may hold its first bytes)."""
        return self.offset - len(self._partial)

    def skip_to(self, offset: int) -> int:
        """Continue from `offset`, a record boundary ahead of the reader; the number of lines jumped over.
        A line in progress whose end is jumped over is counted there; one still in progress continues."""
        lines, ended = count_lines(self.path, self.next_record, offset, tuple(self._pending))
        for stream in ended:
            self._pending.pop(stream, None)
        self._partial = b""
        self.offset = offset
        self.line += lines
        return lines


def count_lines(path: str | os.PathLike, start: int, end: int,
                streams: tuple[str, ...] = ()) -> tuple[int, frozenset[str]]:
    """How many lines end between two record boundaries of the log, and which of `streams` end a line
    there."""
    lines = 0
    ended: set[str] = set()
    with open(path, "rb") as f:
        f.seek(start)
        at = start
        carry = b""
        while at < end:
            data = carry + f.read(min(SCAN_BYTES, end - at))
            if len(data) == len(carry):
                break
            at += len(data) - len(carry)
            cut = data.rfind(b"\n") + 1
            chunk, carry = data[:cut], data[cut:]
            lines += chunk.count(b"\n") - len(_fragment_records(chunk))
            ended.update(stream for stream in streams if stream not in ended and _first_line_record(chunk, stream))
    return lines, frozenset(ended)


class LogScan:
    """A search of a whole log file, advanced step by step (a worker calls step() until it returns False,
    and again when the file has grown). Its matches are kept as line numbers and offsets (16 bytes each,
    so a million matches cost 16 MB), with a checkpoint per step for reading any line back (read_lines)."""

    def __init__(self, path: str | os.PathLike, query: LogQuery) -> None:
        self.path = os.fspath(path)
        self.query = query
        #: The next byte to scan (always a record boundary).
        self.offset = 0
        #: Lines scanned so far (the number of the next line).
        self.lines = 0
        self.match_lines = array("q")
        self.match_offsets = array("q")
        self.checkpoints: list[Checkpoint] = []
        #: Lines in progress by stream: (offset of their first record, their payloads so far).
        self._pending: dict[str, tuple[int, list[bytes]]] = {}
        self._finished = False
        self._pattern = search_pattern(query.term)
        term = query.term.lower()
        # Raw bytes can be searched for an ASCII term; any other term is matched line by line.
        self._term_bytes = term.encode() if term.isascii() and "\n" not in term else None
        allowed = [letter for letter, stream in STREAM_OF_LETTER.items() if query.filter.streams.admits(stream)]
        self._allowed_letters = frozenset(allowed)

    @property
    def count(self) -> int:
        return len(self.match_lines)

    def step(self, max_bytes: int = SCAN_BYTES) -> bool:
        """Scan the next whole records of the file; False when there were none (the end, for now)."""
        if self._finished:
            return False
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(max_bytes)
                if len(data) == max_bytes and b"\n" not in data:
                    data += f.read(LONGEST_RECORD)
        except FileNotFoundError:
            return False
        cut = data.rfind(b"\n") + 1
        if not cut:
            return False
        chunk = data[:cut]
        if not self._pending and (not self.checkpoints or self.checkpoints[-1].offset != self.offset):
            self.checkpoints.append(Checkpoint(self.lines, self.offset))
        if self._pending or self._term_bytes is None or _fragment_records(chunk):
            self._scan_records(chunk)
        else:
            self._scan_plain(chunk)
        self.offset += cut
        return True

    def finish(self) -> None:
        """The log is complete (its run ended and every record is scanned): lines its program never ended
        count now, after all the others, as `launcher logs` prints them."""
        for stream, (first, parts) in self._pending.items():
            if self._line_matches(stream, b"".join(parts)):
                self._add(self.lines, first)
            self.lines += 1
        self._pending.clear()
        self._finished = True

    def run(self) -> Iterator[int]:
        """Steps to the end of the file as it is now, yielding the match count after each."""
        while self.step():
            yield self.count

    # -- finding --------------------------------------------------------------------------------------
    def next_match(self, line: int, forward: bool = True, wrap: bool = True) -> Match | None:
        """The first matching line after `line` (before it, going back), wrapping around the ends."""
        lines = self.match_lines
        if not lines:
            return None
        if forward:
            index = bisect.bisect_right(lines, line)
            if index == len(lines):
                if not wrap:
                    return None
                index = 0
        else:
            index = bisect.bisect_left(lines, line) - 1
            if index < 0:
                if not wrap:
                    return None
                index = len(lines) - 1
        return Match(lines[index], self.match_offsets[index])

    def rank(self, line: int) -> int:
        """How many matching lines come before this line (the 1-based rank of a matching line, minus one)."""
        return bisect.bisect_left(self.match_lines, line)

    def matches_around(self, line: int, before: int, after: int) -> list[Match]:
        """Up to `before` matches before this line and `after` from it on, in order."""
        index = bisect.bisect_left(self.match_lines, line)
        low, high = max(0, index - before), min(len(self.match_lines), index + after)
        return [Match(self.match_lines[i], self.match_offsets[i]) for i in range(low, high)]

    # -- scanning -------------------------------------------------------------------------------------
    def _add(self, line: int, offset: int) -> None:
        self.match_lines.append(line)
        self.match_offsets.append(offset)

    def _line_matches(self, stream: str, data: bytes) -> bool:
        if not self.query.filter.shows(stream, data):
            return False
        if self._term_bytes is not None and not data.translate(None, PLAIN_BYTES):
            return self._term_bytes in data.lower()
        return self._pattern is not None and self._pattern.search(visible_text(data)) is not None

    def _scan_records(self, chunk: bytes) -> None:
        """Record by record, as LogReader reassembles lines: for chunks with fragments (or a line in
        progress) and for terms that are not plain ASCII."""
        pending = self._pending
        at = self.offset
        for record in chunk[:-1].split(b"\n"):
            record_at = at
            at += len(record) + 1
            if len(record) < PAYLOAD_AT - 1:
                continue
            letter = record[LETTER_AT]
            stream = STREAM_OF_LETTER.get(letter & ~0x20)
            if stream is None:
                continue
            payload = record[PAYLOAD_AT:]
            started = pending.pop(stream, None)
            if letter & 0x20:  # a fragment: continued by the next record of its stream
                if started is None:
                    pending[stream] = (record_at, [payload])
                else:
                    started[1].append(payload)
                    pending[stream] = started
                continue
            if started is None:
                first, data = record_at, payload
            else:
                first, data = started[0], b"".join(started[1]) + payload
            if self._line_matches(stream, data):
                self._add(self.lines, first)
            self.lines += 1

    def _scan_plain(self, chunk: bytes) -> None:
        """A chunk of whole lines, one record each: the term is found in the lowered bytes, and only lines
        that are not plain ASCII are decoded and matched as shown."""
        term = self._term_bytes
        assert term is not None
        special: set[int] = set()
        if chunk.translate(None, _NOT_PLAIN_TABLE):
            search_special = _NOT_PLAIN.search
            hit = search_special(chunk)
            while hit is not None:
                start = chunk.rfind(b"\n", 0, hit.start()) + 1
                end = chunk.find(b"\n", hit.start())
                special.add(start)
                hit = search_special(chunk, end + 1)
        letters = self._allowed_letters
        hide_metrics = self.query.filter.hide_metrics
        hits: list[int] = []
        lowered = chunk.lower()
        find, rfind = lowered.find, chunk.rfind
        at = find(term)
        while at >= 0:
            start = rfind(b"\n", 0, at) + 1
            end = find(b"\n", at)
            payload = start + PAYLOAD_AT
            if (start not in special and chunk[start + LETTER_AT] in letters
                    and (at >= payload or find(term, payload, end) >= 0)
                    and not (hide_metrics and chunk[start + LETTER_AT] == 0x4F and chunk.startswith(MARKER, payload))):
                hits.append(start)
            at = find(term, end + 1)
        for start in special:
            end = chunk.find(b"\n", start)
            stream = STREAM_OF_LETTER.get(chunk[start + LETTER_AT])
            if stream is not None and self._line_matches(stream, chunk[start + PAYLOAD_AT:end]):
                hits.append(start)
        if special:
            hits.sort()
        line, counted = self.lines, 0
        for start in hits:
            line += chunk.count(b"\n", counted, start)
            counted = start
            self._add(line, self.offset + start)
        self.lines += chunk.count(b"\n")


def read_lines(path: str | os.PathLike, checkpoints: list[Checkpoint], first: int, count: int,
               complete: bool = False) -> list[tuple[int, LogLine]]:
    """Lines `first` to `first + count - 1` (fewer at the end of the file), numbered, read from the
    checkpoint before them. With `complete` (the run ended), lines never ended count at the end."""
    first = max(0, first)
    index = bisect.bisect_right(checkpoints, first, key=lambda checkpoint: checkpoint.line) - 1
    start = checkpoints[index] if index >= 0 else Checkpoint(0, 0)
    reader = NumberedReader(path, start.offset, start.line)
    found: list[tuple[int, LogLine]] = []
    last = first + count
    while reader.line < last:
        before = reader.offset
        batch = reader.read(1 << 20)
        if not batch and reader.offset == before:
            if complete:
                batch = reader.flush_pending()
            if not batch:
                break
        number = reader.line - len(batch)
        skip = max(0, first - number)
        found.extend((number + i, line) for i, line in enumerate(batch[skip:last - number], start=skip))
    return found


def read_lines_at(path: str | os.PathLike, matches: list[Match]) -> list[tuple[int, LogLine]]:
    """The lines at these matches (their first records' offsets), numbered, in the order given."""
    found: list[tuple[int, LogLine]] = []
    with open(path, "rb") as f:
        for match in matches:
            f.seek(match.offset)
            record = f.readline().rstrip(b"\n")
            letter = record[LETTER_AT] if len(record) > LETTER_AT else 0
            stream = STREAM_OF_LETTER.get(letter & ~0x20)
            if stream is None:
                continue
            if not letter & 0x20:
                found.append((match.line, LogLine(record[:TIMESTAMP_WIDTH].decode(), stream, record[PAYLOAD_AT:])))
                continue
            # A line in fragments: reassembled by a reader from its first record.
            reader = LogReader(path, match.offset)
            line = next((line for line in reader.read_available() if line.stream == stream), None)
            if line is None:
                line = next((line for line in reader.flush_pending() if line.stream == stream), None)
            if line is not None:
                found.append((match.line, line))
    return found
