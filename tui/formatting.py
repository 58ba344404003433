"""How run facts are shown: times, durations and state colours (no Textual here, just text)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text

from launcher.states import ItemState, RunState, SweepState

if TYPE_CHECKING:
    from launcher.metrics import MetricPoint
    from launcher.records import RunRecord

#: Each state's look; a state missing here (a newer engine's) is shown plain.
STATE_STYLES: Mapping[RunState, str] = {
    RunState.STARTING: "bold yellow",
    RunState.PREPARING: "bold blue",
    RunState.RUNNING: "bold cyan",
    RunState.FINISHED: "green",
    RunState.FAILED: "bold red",
    RunState.START_FAILED: "bold red",
    RunState.STOPPED: "magenta",
}
ITEM_STYLES: Mapping[ItemState, str] = {
    ItemState.QUEUED: "yellow",
    ItemState.CLAIMED: "bold yellow",
    ItemState.RUNNING: "bold cyan",
    ItemState.FINISHED: "green",
    ItemState.FAILED: "bold red",
    ItemState.CANCELLED: "magenta",
}
SWEEP_STYLES: Mapping[SweepState, str] = {
    SweepState.RUNNING: "bold cyan",
    SweepState.PAUSED: "bold yellow",
    SweepState.CANCELLED: "magenta",
    SweepState.FINISHED: "green",
    SweepState.FAILED: "bold red",
}
#: How a preparing run's last set-up line looks next to metrics.
SETUP_STYLE = "italic blue"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def short_clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%m-%d %H:%M:%S", time.localtime(seconds))


def duration(record: RunRecord, now: float | None = None) -> str:
    started = record.started_at
    if started is None:
        return "-"
    ended = record.ended_at
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


def state_text(state: RunState) -> Text:
    return Text(str(state), style=STATE_STYLES.get(state, ""))


def item_state_text(state: ItemState) -> Text:
    return Text(str(state), style=ITEM_STYLES.get(state, ""))


def sweep_state_text(state: SweepState) -> Text:
    return Text(str(state), style=SWEEP_STYLES.get(state, ""))


def exit_code(record: RunRecord) -> str:
    return "-" if record.exit_code is None else str(record.exit_code)


def setup_line(record: RunRecord) -> str | None:
    """A preparing run's last set-up line (its owner records it as the run's message), else None."""
    return record.message if record.state is RunState.PREPARING and record.message else None


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


def metrics_text(latest: Mapping[str, MetricPoint]) -> str:
    """`loss=0.31 acc=0.9` from {name: MetricPoint}; "step" is left out (it is each point's position)."""
    return " ".join(f"{name}={number(point.value)}" for name, point in latest.items() if name != "step")
