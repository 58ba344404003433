"""How run facts are shown: times, durations and state colours (no Textual here, just text)."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

STATE_STYLES = {
    "starting": "bold yellow",
    "running": "bold cyan",
    "finished": "green",
    "failed": "bold red",
    "start_failed": "bold red",
    "stopped": "magenta",
}
ACTIVE_STATES = ("starting", "running")


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def short_clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%m-%d %H:%M:%S", time.localtime(seconds))


def duration(record: dict[str, Any], now: float | None = None) -> str:
    started = record.get("started_at")
    if started is None:
        return "-"
    ended = record.get("ended_at")
    if ended is None:
        ended = time.time() if now is None else now
    seconds = max(0, int(ended - started))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def exit_code(record: dict[str, Any]) -> str:
    code = record.get("exit_code")
    return "-" if code is None else str(code)


def is_active(record: dict[str, Any]) -> bool:
    return record.get("state") in ACTIVE_STATES


def number(value: float) -> str:
    """A metric value in a few characters: 0.3142, 1.2e-05, 1234.5, 12."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def metrics_text(latest: dict[str, Any]) -> str:
    """`loss=0.31 acc=0.9` from {name: MetricPoint}; "step" is left out (it is each point's position)."""
    return " ".join(f"{name}={number(point.value)}" for name, point in latest.items() if name != "step")
