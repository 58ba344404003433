"""`@metrics {json}` lines: a run prints `@metrics {"loss": 0.31, "step": 120}` on stdout and the values
are read from its log (run_dir/output.log, format in launcher/logfile.py), so they work on every resource.

A well-formed marker line is a stdout line that starts with `@metrics ` followed by one JSON object; its
numeric values (finite, not booleans, names up to MAX_NAME_LENGTH characters) are points at the line's
"step" (a whole number >= 0), or at the step after the previous marker line's. Anything else is a plain
log line.

The parser reads a chunk of log records at a time. Its fast path (a chunk without stdout fragments) finds
the marker records with one regular expression, decodes their payloads to text at once and runs the JSON
scanner's C function over each (no json.loads call per line); a timestamp is parsed once per arrival time.
A payload the fast path cannot take (not UTF-8, spaces before the object) is parsed on its own with
json.loads, exactly as a single line would be."""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime

from launcher.logfile import LETTER_AT, PAYLOAD_AT, TIMESTAMP_WIDTH

MARKER = b"@metrics "
#: Bytes of log read per indexing step; a run's index catches up over several steps. Small enough that a
#: step holds the interpreter lock about a millisecond, so a UI thread indexing a flooding run stays responsive.
CHUNK_BYTES = 1 << 18
MAX_NAME_LENGTH = 128

# Log record layout (launcher/logfile.py): 27-character timestamp, space, stream letter, space, payload.
_STDOUT_LINE, _STDOUT_FRAGMENT = ord("O"), ord("o")
# Fast path: complete stdout records holding a marker, when the chunk has no stdout fragment.
_MARKER_RECORD = re.compile(rb"^(.{27}) O @metrics (.*)$", re.M)
_STDOUT_FRAGMENT_RECORD = re.compile(rb"^.{27} o ", re.M)
#: The JSON scanner json.loads itself uses (C): scan(text, index) -> (value, end).
_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]  # public, but not in typeshed
_JSON_SPACE = " \t\r\n"


def parse_marker(payload: bytes) -> tuple[int | None, dict[str, float]] | None:
    """(step or None, {name: value}) for a well-formed marker line, else None (it stays a plain line)."""
    if not payload.startswith(MARKER):
        return None
    try:
        data = json.loads(payload[len(MARKER):].rstrip(b"\r"))
    except (ValueError, RecursionError):
        return None
    return _values(data)


def _values(data: object) -> tuple[int | None, dict[str, float]] | None:
    if type(data) is not dict:
        return None
    step = data.get("step")
    if step is not None:
        if type(step) is float and step.is_integer():
            step = int(step)
        if type(step) is not int or step < 0:
            return None
    isfinite = math.isfinite
    values = {}
    for name, value in data.items():
        kind = type(value)
        if (kind is float or kind is int) and name != "step" and len(name) <= MAX_NAME_LENGTH and isfinite(value):
            values[name] = float(value)
    if not values:
        return None
    return step, values


def _timestamp(raw: bytes) -> float:
    try:
        return datetime.fromisoformat(raw.decode()).timestamp()
    except ValueError:
        return time.time()


class MarkerParse:
    """The parser's position in one run's log, and the points it found since."""

    __slots__ = ("offset", "next_step", "skipping", "points", "_times")

    def __init__(self, offset: int, next_step: int, skipping: bool) -> None:
        self.offset = offset
        self.next_step = next_step
        #: The stdout line in progress at `offset` is known not to be a marker: skip to its end.
        self.skipping = skipping
        #: (name, step, value, time): MetricPoint's fields, as plain tuples (see marker_records).
        self.points: list[tuple[str, int, float, float]] = []
        self._times: dict[bytes, float] = {}

    def _time(self, raw: bytes) -> float:
        at = self._times.get(raw)
        if at is None:
            at = self._times[raw] = _timestamp(raw)
        return at

    def take(self, timestamp: bytes, parsed: tuple[int | None, dict[str, float]] | None) -> None:
        if parsed is None:
            return
        step, values = parsed
        if step is None:
            step = self.next_step
        at = self._time(timestamp)
        append = self.points.append
        for name, value in values.items():
            append((name, step, value, at))
        self.next_step = step + 1

    def line(self, timestamp: bytes, payload: bytes) -> None:
        self.take(timestamp, parse_marker(payload))

    def marker_records(self, records: list[tuple[bytes, bytes]]) -> None:
        """Complete marker records (timestamp, payload after the marker), in log order. The hot path of
        indexing: _values and take inlined, points as plain tuples (a NamedTuple per point costs as much
        as the rest of the work)."""
        if not records:
            return
        try:
            texts = b"\n".join([payload for _, payload in records]).decode()
        except UnicodeDecodeError:
            for timestamp, payload in records:
                self.line(timestamp, MARKER + payload)
            return
        scan, space, isfinite, longest = _scan, _JSON_SPACE, math.isfinite, MAX_NAME_LENGTH
        append, times = self.points.append, self._times
        for (timestamp, payload), text in zip(records, texts.split("\n"), strict=True):
            try:
                data, end = scan(text, 0)
            except (StopIteration, ValueError, RecursionError):
                self.line(timestamp, MARKER + payload)  # leading space, or not JSON: as a line on its own
                continue
            if (end != len(text) and text[end:].strip(space)) or type(data) is not dict:
                continue  # more than one JSON value, or not an object: not a marker
            step = data.get("step")
            if step is None:
                step = self.next_step
            else:
                if type(step) is float and step.is_integer():
                    step = int(step)
                if type(step) is not int or step < 0:
                    continue
            at = times.get(timestamp)
            if at is None:
                at = times[timestamp] = _timestamp(timestamp)
            found = False
            for name, value in data.items():
                kind = type(value)
                if (kind is float or kind is int) and name != "step" and len(name) <= longest and isfinite(value):
                    append((name, step, float(value), at))
                    found = True
            if found:
                self.next_step = step + 1


def parse_chunk(state: MarkerParse, chunk: bytes, base: int, final: bool) -> None:
    """Read the complete records of chunk (which starts at file offset base) into state."""
    end = chunk.rfind(b"\n") + 1
    if not state.skipping and not _STDOUT_FRAGMENT_RECORD.search(chunk, 0, end):
        state.marker_records(_MARKER_RECORD.findall(chunk, 0, end))
        state.offset = base + end
        return
    pending_start: int | None = None
    pending_ts = b""
    pending: list[bytes] = []
    position = 0
    while position < end:
        newline = chunk.index(b"\n", position)
        record_start, position = position, newline + 1
        if newline - record_start < PAYLOAD_AT - 1:
            continue
        letter = chunk[record_start + LETTER_AT]
        if letter != _STDOUT_LINE and letter != _STDOUT_FRAGMENT:
            continue  # only stdout carries markers; other streams cannot interrupt a stdout line
        payload = chunk[record_start + PAYLOAD_AT:newline]
        if state.skipping:
            state.skipping = letter == _STDOUT_FRAGMENT
            continue
        if letter == _STDOUT_FRAGMENT:
            if pending_start is None:
                pending_start, pending_ts = record_start, chunk[record_start:record_start + TIMESTAMP_WIDTH]
            pending.append(payload)
            continue
        if pending_start is not None:
            state.line(pending_ts, b"".join(pending) + payload)
            pending_start, pending = None, []
        else:
            state.line(chunk[record_start:record_start + TIMESTAMP_WIDTH], payload)
    state.offset = base + end
    if pending_start is None:
        return
    started = b"".join(pending)
    if final:  # the program ended without finishing its last line
        state.line(pending_ts, started)
    elif _could_be_marker(started[:len(MARKER)]) and not (pending_start == 0 and len(chunk) >= CHUNK_BYTES):
        state.offset = base + pending_start  # read the marker again once its line is complete
    else:
        state.skipping = True  # not a marker (or one too long to hold): skip the rest of the line


def _could_be_marker(start: bytes) -> bool:
    return start.startswith(MARKER) or MARKER.startswith(start)
