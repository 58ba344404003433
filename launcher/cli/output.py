"""Small helpers for printing tables and times on the terminal."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence


def screen_width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (East Asian) characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(screen_width(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(cell + " " * (widths[i] - screen_width(cell)) for i, cell in enumerate(row)).rstrip()
                     for row in cells)


def when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def duration(start: float | None, end: float | None) -> str:
    if not start:
        return "-"
    seconds = int((end or time.time()) - start)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def size(count: int) -> str:
    """Bytes for people: 512 B, 1.5 KiB, 3.2 MiB, 1.1 GiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
