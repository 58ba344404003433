"""Faults of the engine itself: none answering, and one going away in the middle of a run."""

from __future__ import annotations

import pytest

from launcher import launch
from launcher.containers.engine import Engine
from launcher.errors import ResourceError
from launcher.launch import submit
from launcher.runners import get_runner
from launcher.spec import merge_request
from tests.waiting import wait_for

RESOURCE = "local-container"


def test_no_engine_answering(api, tmp_path, monkeypatch):
    nothing = tmp_path / "nothing-listens-here.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{nothing}")
    expected = f"no Docker engine answers at unix://{nothing}; start one with: bash scripts/docker-up"

    assert get_runner(RESOURCE).unavailable_reason() == expected
    [resource] = [r for r in api.resources() if r["name"] == RESOURCE]
    assert resource == {"name": RESOURCE, "available": False, "reason": expected}

    with pytest.raises(ResourceError) as caught:
        launch(api, docker_image="launcher-base:bookworm", entry_point=["true"])
    assert str(caught.value) == expected
    [record] = api.runs()
    assert (record["state"], record["message"]) == ("start_failed", expected)


def _running_on(private_engine, api, command: str):
    image = private_engine.import_tiny_image()
    run = submit(api, merge_request(docker_image=image, entry_point=["sh", "-c", command]))
    wait_for(lambda: "before" in run.get_logs(), timeout=30, what="the container's first output")
    assert run.state == "running"
    return run


def _notes(run) -> list[str]:
    return [line.text for line in run.log_lines() if line.stream == "launcher"]


def test_engine_going_away_mid_run_ends_the_run_clearly_once_it_answers(api, private_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)
    run = _running_on(private_engine, api, "echo before; sleep 300")

    private_engine.kill()
    wait_for(lambda: any("lost the connection to the Docker engine" in n for n in _notes(run)), timeout=30,
             what="the supervisor to notice")
    assert run.state == "running"  # nothing is known yet: the container may still be alive

    private_engine.start()  # without live-restore, the engine ends the containers it lost
    assert not run.wait(timeout=60)
    status = run.get_status()
    assert status.state == "failed"
    assert status.exit_code == 137
    assert status.message == "killed by SIGKILL (the Docker engine went away during the run)"
    assert run.get_logs() == "before\n"  # replayed from the log driver without repeating a byte
    assert Engine(private_engine.host).containers({"launcher.run_id": run.id}) == []


def test_cancel_while_the_engine_is_away(api, private_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)
    run = _running_on(private_engine, api, "echo before; sleep 300")

    private_engine.kill()
    wait_for(lambda: any("lost the connection to the Docker engine" in n for n in _notes(run)), timeout=30,
             what="the supervisor to notice")
    status = run.cancel(grace_period=0)
    assert status.state == "stopped"
    assert "while the Docker engine was not answering" in status.message
