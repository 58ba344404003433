"""What a log line shows as text: the payload bytes decoded, terminal escape sequences removed, a progress
bar at its last state, tabs expanded, other control characters made visible. The log pane draws this text
and searches it; the whole-log search (launcher/logsearch.py) matches the same text, so that a count on
disk and the highlights on screen agree. Only the standard library: the engine must not need a UI."""

from __future__ import annotations

import calendar
import re
import time

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Control characters left once escape sequences are parsed (ESC kept: it starts the colour codes).
CONTROL_BUT_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")
#: Terminal escape sequences. Group 1 catches colour (SGR) codes, which a coloured rendering keeps; the rest
#: (cursor moves, erase line, window titles, hyperlinks, a lone ESC) are dropped.
ESCAPE = re.compile(
    r"(\x1b\[[0-9;]*m)"
    r"|\x1b(?:\[[0-?]*[ -/]*[@-~]"  # other CSI sequences
    r"|\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, ended by BEL or ST
    r"|[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|[ -/]*[0-~])?"  # two-character escapes; a lone ESC at the end
)
#: Bytes whose line shows exactly as its bytes (printable ASCII): for such a line the shown text is the
#: payload itself, which is what lets a search run on raw bytes.
PLAIN_BYTES = bytes(range(0x20, 0x7F))


def clean(text: str) -> str:
    return _CONTROL.sub("\ufffd", text.expandtabs())


def after_carriage_return(text: str) -> str:
    """Of a line with carriage returns (progress bars), the text after the last one, as on a terminal; a
    carriage return just before the newline blanks nothing."""
    if "\r" not in text:
        return text
    return text.rstrip("\r").rpartition("\r")[2]


def visible_text(data: bytes) -> str:
    """The text of the line as shown, without colours: what search matches and wrap measures."""
    text = after_carriage_return(data.decode("utf-8", "replace"))
    if "\x1b" in text:
        text = ESCAPE.sub("", text)
    return clean(text)


def search_pattern(term: str) -> re.Pattern[str] | None:
    """The pattern a search term stands for: the literal text, any case; None for an empty term."""
    return re.compile(re.escape(term), re.IGNORECASE) if term else None


def local_time_of_day(timestamp: str) -> str:
    """'2026-01-02T03:04:05.678901Z' (UTC, as the log file has it) -> local '03:04:05.678'."""
    try:  # parsed by hand: time.strptime is slow, and its first call imports a module
        fields = (int(timestamp[0:4]), int(timestamp[5:7]), int(timestamp[8:10]), int(timestamp[11:13]),
                  int(timestamp[14:16]), int(timestamp[17:19]), 0, 0, 0)
    except ValueError:
        return timestamp[11:23]
    local = time.localtime(calendar.timegm(fields))
    return f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}{timestamp[19:23]}"
