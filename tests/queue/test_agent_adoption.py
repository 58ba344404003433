"""A restarted agent counts, against --max-jobs, the still-active runs it inherits from an agent killed
outright: it adopts them (atomically: two new agents never both adopt one), their items end with their
runs, and it takes new items only below its limit. Real agent processes, real runs, a real SQLite file."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from launcher import launch_add
from launcher.states import RunState
from tests.queue.conftest import run_config
from tests.waiting import wait_for


class Sampler:
    """Reads a measure from the store over and over in a thread while a test runs; keeps every value, so
    a test can assert on the highest one seen (a bound that held at every moment, not just at the end)."""

    def __init__(self, measure: Callable[[], dict[str, int]]) -> None:
        self.measure = measure
        self.values: list[dict[str, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._done.is_set():
            self.values.append(self.measure())
            self._done.wait(0.005)  # the sampling period, not a synchronisation

    def highest(self, key: str) -> int:
        return max((v.get(key, 0) for v in self.values), default=0)


def active_runs(api) -> dict[str, int]:
    """Runs the store counts as active (starting or running): every run of the workspace is on the queue."""
    marks = ", ".join("?" for _ in RunState.active())
    count = api.workspace.store.query(f"SELECT COUNT(*) AS n FROM runs WHERE state IN ({marks})", RunState.active())[0]["n"]
    return {"runs": count}


def items_held(api) -> dict[str, int]:
    """Claimed or running items per agent, as the agents record them (no syncing here)."""
    return {r["agent_id"]: r["n"] for r in api.workspace.store.query(
        "SELECT agent_id, COUNT(*) AS n FROM queue_items WHERE state IN ('claimed', 'running') GROUP BY agent_id")}


def agent_id(api, process: subprocess.Popen) -> str | None:
    rows = api.workspace.store.query("SELECT id FROM agents WHERE pid=? ORDER BY started_at DESC", (process.pid,))
    return rows[0]["id"] if rows else None


def raw_item(api, item) -> dict:
    """The item's row as the store has it, without bringing it up to date from its run first (which
    QueuedItem.state does): shows what the agents did."""
    return dict(api.workspace.store.query("SELECT * FROM queue_items WHERE id=?", (item.id,))[0])


def started(gates: list[Path]) -> list[int]:
    return [i for i, gate in enumerate(gates) if gate.with_suffix(".started").exists()]


def kill_outright(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def interrupt(process: subprocess.Popen) -> str:
    """Ctrl-C an agent process; returns what it wrote on stderr (its events)."""
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return err


def adoptions(events: str) -> list[tuple[str, int, str]]:
    """(run id, item id, previous agent) for each 'adopted run' event an agent printed."""
    return [(m[1], int(m[2]), m[3]) for m in re.finditer(r"adopted run (\S+) \(item (\d+)\) of gone agent (\S+)",
                                                          events)]


def kill_an_agent_with_two_runs(api, worker, agent_process, gates: list[Path], configs: list[dict]):
    """Queue one gated item per gate, let an agent with --max-jobs 2 launch two, kill it -9. Returns the
    two orphaned items, their run ids, the dead agent's id, and the other items (still queued)."""
    items = [launch_add(api, job=worker, config=run_config(gate=str(gate), **config))
             for gate, config in zip(gates, configs, strict=True)]
    first = agent_process("--max-jobs", "2", "--poll", "0.05")
    wait_for(lambda: len(started(gates)) == 2, what="the first agent's two runs started")
    dead_id = agent_id(api, first)
    kill_outright(first)
    orphans = [items[i] for i in started(gates)]
    assert orphans == items[:2]  # first in first out
    run_ids = [raw_item(api, item)["run_id"] for item in orphans]
    for item in orphans:  # linked to their runs, which outlive the agent
        assert raw_item(api, item)["state"] == "running" and raw_item(api, item)["agent_id"] == dead_id
    assert all(api.workspace.store.get_run(run_id).state == RunState.RUNNING for run_id in run_ids)
    return orphans, run_ids, dead_id, items[2:]


def test_a_restarted_agent_counts_the_runs_of_the_killed_one(api, worker, agent_process, tmp_path):
    gates = [tmp_path / f"gate{i}" for i in range(5)]
    configs = [{"losses": [0.5, 0.25]}, {"exit": 3}, {}, {}, {}]
    orphans, run_ids, dead_id, rest = kill_an_agent_with_two_runs(api, worker, agent_process, gates, configs)

    with Sampler(lambda: active_runs(api)) as sampler:
        second = agent_process("--max-jobs", "2", "--poll", "0.05")
        new_id = wait_for(lambda: agent_id(api, second), what="the second agent registered")
        wait_for(lambda: all(raw_item(api, item)["agent_id"] == new_id for item in orphans),
                 what="the second agent adopted both runs")
        assert [raw_item(api, item)["state"] for item in rest] == ["queued"] * 3

        # One inherited run ends: its item ends with it (the agent brings it up to date, metrics indexed)
        # and exactly one new item takes the freed slot.
        gates[0].write_text("go")
        wait_for(lambda: raw_item(api, orphans[0])["state"] == "finished", what="the adopted item finished")
        wait_for(lambda: started(gates) == [0, 1, 2], what="one new run in the freed slot")
        assert api.workspace.store.query("SELECT COUNT(*) AS n FROM metrics WHERE run_id=?", (run_ids[0],))[0]["n"] == 2
        assert [raw_item(api, item)["state"] for item in rest] == ["running", "queued", "queued"]

        gates[1].write_text("go")  # the other inherited run fails: its item fails with the reason
        wait_for(lambda: raw_item(api, orphans[1])["state"] == "failed", what="the adopted item failed")
        assert raw_item(api, orphans[1])["message"] == "run failed: exit code 3"
        wait_for(lambda: started(gates) == [0, 1, 2, 3], what="one more new run in the freed slot")

        for gate in gates:
            gate.write_text("go")
        for item in rest:
            wait_for(lambda i=item: raw_item(api, i)["state"] == "finished", what=f"item {item.id} finished")
        events = interrupt(second)

    assert sampler.highest("runs") == 2 and len(sampler.values) > 10
    assert [raw_item(api, item)["run_id"] for item in orphans] == run_ids  # followed, never launched again
    assert len(api.runs()) == 5
    assert sorted(adoptions(events)) == sorted(
        (run_id, item.id, dead_id) for run_id, item in zip(run_ids, orphans, strict=True))
    assert "3 run(s) launched" in events.splitlines()[-1]  # the adopted runs are not launches


def test_two_agents_started_together_adopt_each_orphan_once(api, worker, agent_process, tmp_path):
    gates = [tmp_path / f"gate{i}" for i in range(4)]
    orphans, run_ids, dead_id, rest = kill_an_agent_with_two_runs(api, worker, agent_process, gates, [{}] * 4)

    with Sampler(lambda: items_held(api)) as sampler:
        agents = [agent_process("--max-jobs", "2", "--poll", "0.05") for _ in range(2)]
        ids = [wait_for(lambda a=a: agent_id(api, a), what="an agent registered") for a in agents]
        wait_for(lambda: all(raw_item(api, item)["agent_id"] in ids for item in orphans),
                 what="both orphans adopted")
        # Together the two agents have room for four runs: the two inherited ones and two new ones.
        wait_for(lambda: len(started(gates)) == 4, what="the queued items launched")
        adopter = raw_item(api, orphans[0])["agent_id"]
        other = next(i for i in ids if i != adopter)
        assert raw_item(api, orphans[1])["agent_id"] == adopter  # one transaction adopts all it finds
        assert [raw_item(api, item)["agent_id"] for item in rest] == [other, other]
        for gate in gates:
            gate.write_text("go")
        for item in orphans + rest:
            wait_for(lambda i=item: raw_item(api, i)["state"] == "finished", what=f"item {item.id} finished")
        events = {agent_id_: interrupt(process) for agent_id_, process in zip(ids, agents, strict=True)}

    assert sampler.highest(adopter) == 2 and sampler.highest(other) == 2
    assert sorted(adoptions(events[adopter])) == sorted(
        (run_id, item.id, dead_id) for run_id, item in zip(run_ids, orphans, strict=True))
    assert adoptions(events[other]) == []
    assert len(api.runs()) == 4  # no run was launched twice


def test_runs_left_by_a_stopped_agent_are_adopted_in_the_same_process(api, worker, start_agent, tmp_path):
    # An agent inside a live process (the TUI) that returned with on_stop="leave": its process lives, its
    # agents row says stopped, nobody follows its run any more.
    gates = [tmp_path / "gate0", tmp_path / "gate1"]
    left, waiting = (launch_add(api, job=worker, config=run_config(gate=str(gate))) for gate in gates)
    first = start_agent(max_jobs=1, on_stop="leave")
    wait_for(lambda: started(gates) == [0], what="the first agent's run started")
    first.stop()
    assert first.join(30) and first.state == "stopped"
    run_id = raw_item(api, left)["run_id"]
    assert api.workspace.store.get_run(run_id).state == RunState.RUNNING

    second = start_agent(max_jobs=1)
    wait_for(lambda: second.active_runs() == [run_id], what="the run adopted")
    assert raw_item(api, left)["agent_id"] == second.id and second.status()["adopted"] == 1
    assert raw_item(api, waiting)["state"] == "queued"  # its one slot is taken by the adopted run
    gates[0].write_text("go")
    wait_for(lambda: raw_item(api, left)["state"] == "finished", what="the adopted item finished")
    wait_for(lambda: started(gates) == [0, 1], what="the queued item launched in the freed slot")
    gates[1].write_text("go")
    assert waiting.wait_until_finished(timeout=30).state == RunState.FINISHED
