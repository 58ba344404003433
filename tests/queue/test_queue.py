"""Queues and agents: priorities, max-jobs, round-robin, atomic claims across processes, failure reasons,
cancel/remove, an agent killed outright, Ctrl-C with --on-stop wait|stop."""

from __future__ import annotations

import json
import signal

import pytest

from launcher import launch_add
from launcher.errors import RunError
from launcher.queue import (
    QueueError,
    check_queue,
    claim_next,
    create_queue,
    get_item,
    recover_items,
)
from launcher.states import RunState
from tests.queue.conftest import dead_process, one_line_error, run_config
from tests.waiting import wait_for


def created_order(api, items) -> list[int]:
    """Item ids in the order their runs were created."""
    runs = {item.get_run().id: item.id for item in items}
    records = sorted((r for r in api.runs() if r.id in runs), key=lambda r: r.created_at)
    return [runs[r.id] for r in records]


def test_launch_add_waits_and_returns_the_run(api, worker, start_agent):
    item = launch_add(api, job=worker, config=run_config(losses=[0.5], tag="hello"), name="queued-run")
    assert item.state == "queued" and item.get_run() is None
    start_agent()
    running = item.wait_until_running(timeout=30)
    run = item.wait_until_finished(timeout=30)
    assert running.id == run.id == item.run_id
    assert run.state == RunState.FINISHED and item.state == "finished"
    assert "worker done hello" in run.get_logs()
    record = run.record
    assert record.name == "queued-run"  # the item's settings reach the launch
    assert any(r.id == run.id for r in api.runs())  # an ordinary run


def test_priorities_then_first_in_first_out(api, worker, start_agent):
    order = [("low", "a"), ("medium", "b"), ("critical", "c"), ("medium", "d"), ("high", "e"), (None, "f"),
             ("critical", "g")]
    items = {tag: launch_add(api, job=worker, config=run_config(tag=tag), priority=priority)
             for priority, tag in order}
    assert [r.id for r in api.queue_items(states=["queued"])] == [items[t].id for t in "cgebdfa"]
    start_agent(max_jobs=1)
    for item in items.values():
        item.wait_until_finished(timeout=60)
    assert created_order(api, list(items.values())) == [items[t].id for t in "cgebdfa"]


def test_max_jobs_is_never_exceeded(api, worker, start_agent, tmp_path):
    gates = [tmp_path / f"gate{i}" for i in range(5)]
    items = [launch_add(api, job=worker, config=run_config(gate=str(g))) for g in gates]
    agent = start_agent(max_jobs=2)
    started = lambda: [g for g in gates if g.with_suffix(".started").exists()]  # noqa: E731
    wait_for(lambda: len(started()) == 2, what="two runs started")
    for _ in range(4):  # each time a run is let go, exactly one more starts
        # A run's program can write its .started file before the agent thread records the run as active.
        wait_for(lambda: len(agent.active_runs()) == 2, timeout=10, what="the agent to count two active runs")
        assert sum(1 for i in items if i.state == "queued") == 5 - len(started())
        first_open = next(g for g in started() if not g.exists())
        first_open.write_text("go")
        count = len(started())
        wait_for(lambda c=count: len(started()) == min(5, c + 1), what="the next run started")
    for gate in gates:
        gate.write_text("go")
    for item in items:
        assert item.wait_until_finished(timeout=30).state == RunState.FINISHED


def test_round_robin_across_queues(api, worker, start_agent):
    create_queue(api.workspace, "gpu")
    a = [launch_add(api, job=worker, queue_name="default") for _ in range(3)]
    b = [launch_add(api, job=worker, queue_name="gpu") for _ in range(3)]
    start_agent(["default", "gpu"], max_jobs=1)
    for item in a + b:
        item.wait_until_finished(timeout=60)
    assert created_order(api, a + b) == [a[0].id, b[0].id, a[1].id, b[1].id, a[2].id, b[2].id]


def test_unlimited_max_jobs(api, worker, start_agent, tmp_path):
    gate = tmp_path / "gate"
    items = [launch_add(api, job=worker, config=run_config(gate=str(gate))) for _ in range(6)]
    agent = start_agent(max_jobs=-1)
    wait_for(lambda: len(agent.active_runs()) == 6, what="all six running at once")
    gate.write_text("go")
    assert all(i.wait_until_finished(timeout=30).state == RunState.FINISHED for i in items)


def test_bad_queue_and_priority_are_one_line_errors(api, worker, cli):
    with pytest.raises(QueueError, match="unknown queue 'nope'; expected one of: default"):
        launch_add(api, job=worker, queue_name="nope")
    with pytest.raises(QueueError, match="unknown priority 'urgent'; expected one of: critical, high, medium, low"):
        launch_add(api, job=worker, priority="urgent")
    assert "unknown queue 'nope'" in one_line_error(cli("queue", "add", "-j", worker, "-q", "nope"))
    assert "unknown priority 'urgent'" in one_line_error(cli("queue", "add", "-j", worker, "--priority", "urgent"))
    assert "unknown queue 'nope'" in one_line_error(cli("agent", "--queue", "nope"))
    assert "max_jobs 0" in one_line_error(cli("agent", "--max-jobs", "0"))
    assert "job" in one_line_error(cli("queue", "add", "-j", "no-such-job"))
    assert api.queue_items() == []  # nothing was queued by the bad requests


def test_failed_items_keep_the_reason(api, worker, start_agent, make_code_dir):
    bad_job = launch_add(api, job=worker, entry_point=["python", "missing.py"])
    crashed = launch_add(api, job=worker, config=run_config(exit=3))
    missing_program = launch_add(api, entry_point=["no-such-program-for-launcher-tests"])
    not_executable = make_code_dir({"tool.sh": "echo never runs\n"})  # a file without its executable bit
    api.create_job("code", str(not_executable), name="not-executable", entry_point=["./tool.sh"])
    no_program = launch_add(api, job="not-executable")
    fine = launch_add(api, job=worker, run_id="wanted-id")
    # Both pass when queued; the second finds the id taken when it is launched.
    same_id = launch_add(api, job=worker, run_id="wanted-id", priority="low")
    start_agent(max_jobs=1)
    assert fine.wait_until_finished(timeout=60).state == RunState.FINISHED
    with pytest.raises(RunError, match="failed without a run: launch rejected: run_id 'wanted-id' is already used"):
        same_id.wait_until_finished(timeout=30)
    assert same_id.get_run() is None and fine.get_run().id == "wanted-id"
    with pytest.raises(RunError, match="run_id 'wanted-id' is already used"):
        launch_add(api, job=worker, run_id="wanted-id")
    with pytest.raises(RunError, match="failed without a run: launch rejected: .*missing.py"):
        bad_job.wait_until_finished(timeout=30)
    assert bad_job.state == "failed"
    assert crashed.wait_until_finished(timeout=30).state == RunState.FAILED
    assert crashed.state == "failed" and crashed.message == "run failed: exit code 3"
    assert no_program.wait_until_finished(timeout=30).state == RunState.START_FAILED
    assert no_program.message.startswith("run failed to start: could not start './tool.sh'")
    with pytest.raises(RunError, match="launch rejected: program 'no-such-program-for-launcher-tests' of the entry "
                                       "point is not found on PATH"):
        missing_program.wait_until_finished(timeout=30)


def test_cancel_and_remove(api, worker, start_agent, tmp_path, cli):
    gate = tmp_path / "gate"
    running = launch_add(api, job=worker, config=run_config(gate=str(gate)), priority="high")
    waiting = launch_add(api, job=worker)
    doomed = launch_add(api, job=worker)
    start_agent(max_jobs=1)
    run = running.wait_until_running(timeout=30)
    wait_for(lambda: gate.with_suffix(".started").exists(), what="the run's program started")

    result = cli("queue", "remove", str(running.id))
    assert f"queue item {running.id} is running; cancel it first" in one_line_error(result)
    assert cli("queue", "remove", str(doomed.id)).returncode == 0
    with pytest.raises(QueueError, match=f"queue item {doomed.id} does not exist"):
        get_item(api.workspace, doomed.id)
    assert cli("queue", "cancel", str(waiting.id)).stdout.strip() == f"item {waiting.id} cancelled"

    result = cli("queue", "cancel", str(running.id))
    assert result.stdout.strip() in (f"item {running.id} running (its run {run.id} is being stopped)",
                                     f"item {running.id} cancelled")
    assert run.wait(timeout=30) is False and run.state == RunState.STOPPED
    wait_for(lambda: running.state == "cancelled", what="the running item cancelled")
    assert waiting.state == "cancelled" and waiting.get_run() is None
    with pytest.raises(RunError, match="cancelled without a run"):
        waiting.wait_until_running(timeout=5)
    assert "does not exist" in one_line_error(cli("queue", "cancel", "999"))
    assert "not valid; expected a number" in one_line_error(cli("queue", "cancel", "abc"))
    again = cli("queue", "cancel", str(waiting.id))
    assert again.returncode == 2 and f"item {waiting.id} had already ended (cancelled)" in again.stderr


def test_cli_lists_items_and_queues(api, worker, cli):
    assert cli("queue", "create", "gpu").returncode == 0
    added = cli("queue", "add", "-q", "gpu", "--priority", "critical", "-j", worker, "-c", '{"parameters": {"lr": 1}}')
    assert added.returncode == 0, added.stderr
    item_id = int(added.stdout.strip())
    listed = json.loads(cli("queue", "list", "--json", "-q", "gpu").stdout)
    assert [(i["id"], i["state"], i["priority"]) for i in listed] == [(item_id, "queued", "critical")]
    assert listed[0]["settings"]["config"] == {"parameters": {"lr": 1}}
    queues = json.loads(cli("queues", "--json").stdout)["queues"]
    assert {q["name"]: q["counts"]["queued"] for q in queues} == {"default": 0, "gpu": 1}
    assert "still has 1 active item" in one_line_error(cli("queue", "delete", "gpu"))
    assert cli("queue", "remove", str(item_id)).returncode == 0
    assert cli("queue", "delete", "gpu").returncode == 0
    with pytest.raises(QueueError):
        check_queue(api.workspace, "gpu")


def test_two_agent_processes_never_take_the_same_item(api, worker, agent_process):
    items = [launch_add(api, job=worker, config=run_config(tag=str(i))) for i in range(24)]
    agents = [agent_process("--max-jobs", "3", "--poll", "0.05") for _ in range(2)]
    for item in items:
        item.wait_until_finished(timeout=120)
    for process in agents:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    records = api.queue_items()
    assert [(r.id, r.state, r.reason) for r in records if r.state != "finished"] == []
    run_ids = [r.run_id for r in records]
    assert len(set(run_ids)) == 24
    assert len(api.runs()) == 24  # no item was launched twice
    assert {r.agent_id for r in records} <= {a["id"] for a in api.workspace.store.query("SELECT id FROM agents")}


def test_items_of_a_killed_agent_are_recovered(api, worker, agent_process, start_agent, tmp_path):
    gate = tmp_path / "gate"
    launched = launch_add(api, job=worker, config=run_config(gate=str(gate)))
    agent = agent_process("--max-jobs", "1")
    run = launched.wait_until_running(timeout=30)
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=30)

    # An item the dead agent had claimed but not launched yet (a claim is a store write; the agent's
    # process is a real one that has exited).
    orphan = launch_add(api, job=worker)
    pid, started = dead_process()
    claimed = claim_next(api.workspace, "default", agent_id="agent-dead", pid=pid, process_start=started)
    assert claimed.id == orphan.id and orphan.state == "claimed"

    assert recover_items(api.workspace) == 1
    assert orphan.state == "queued" and "is gone" in orphan.message
    assert launched.state == "running"  # launched: it follows its run, which outlives the agent
    gate.write_text("go")
    assert run.wait(timeout=30) and launched.wait_until_finished(timeout=30).id == run.id
    assert launched.state == "finished"

    start_agent()
    assert orphan.wait_until_finished(timeout=30).state == RunState.FINISHED


def test_an_item_claimed_with_its_run_created_follows_the_run(api, worker):
    item = launch_add(api, job=worker)
    pid, started = dead_process()
    claimed = claim_next(api.workspace, "default", agent_id="agent-dead", pid=pid, process_start=started)
    # The dead agent got as far as creating the run before it died.
    from launcher.spec import merge_request

    run = api.runs.submit(merge_request(job=worker, run_id=claimed.reserved_run_id))
    assert recover_items(api.workspace) == 1
    assert item.wait_until_finished(timeout=30).id == run.id
    assert item.state == "finished"


@pytest.mark.parametrize("on_stop, run_state, item_state", [("wait", RunState.FINISHED, "finished"),
                                                            ("stop", RunState.STOPPED, "cancelled"),
                                                            ("leave", RunState.FINISHED, "finished")])
def test_ctrl_c_stops_taking_items_then_waits_or_stops(api, worker, agent_process, tmp_path,
                                                       on_stop, run_state, item_state):
    gate = tmp_path / "gate"
    first = launch_add(api, job=worker, config=run_config(gate=str(gate)))
    second = launch_add(api, job=worker)
    agent = agent_process("--max-jobs", "1", "--on-stop", on_stop)
    run = first.wait_until_running(timeout=30)
    wait_for(lambda: gate.with_suffix(".started").exists(), what="the run's program started")
    agent.send_signal(signal.SIGINT)
    if on_stop == "wait":
        wait_for(lambda: api.workspace.store.query("SELECT state FROM agents")[0]["state"] == "stopping", what="agent stopping")
        assert agent.poll() is None  # still waiting for its run
        gate.write_text("go")
    assert agent.wait(timeout=60) == 0
    if on_stop == "leave":
        assert run.state == RunState.RUNNING  # the agent is gone, its run goes on
        gate.write_text("go")
        assert run.wait(timeout=60)
    assert run.state == run_state and first.state == item_state
    assert second.state == "queued"  # never taken after Ctrl-C



def test_an_item_cancelled_while_being_launched_has_its_run_stopped(api, worker, tmp_path):
    from launcher.agent import Agent

    gate = tmp_path / "gate"
    item = launch_add(api, job=worker, config=run_config(gate=str(gate)))
    agent = Agent(api.workspace, ["default"], 1)
    claimed = claim_next(api.workspace, "default", agent_id=agent.id, pid=agent.pid, process_start=agent.process_start)
    assert claimed.id == item.id
    assert item.cancel() == "cancelled"  # between the claim and the launch
    agent._launch(claimed)  # what the agent's loop does next with its claim
    run = item.get_run()
    assert run is not None and run.wait(timeout=30) is False
    assert run.state == RunState.STOPPED and item.state == "cancelled"
    assert not gate.exists()
