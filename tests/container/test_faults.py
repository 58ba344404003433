"""Faults of the engine itself: none answering, and one going away in the middle of a run."""

from __future__ import annotations

import pytest

from launcher import Api, launch
from launcher.containers.engine import Engine
from launcher.containers.leftovers import pending
from launcher.errors import ResourceError
from launcher.launching import submit
from launcher.runners import get_runner
from launcher.spec import merge_request
from tests.container.conftest import PrivateEngine
from tests.waiting import wait_for

RESOURCE = "local-container"


def test_no_engine_answering(api, tmp_path, monkeypatch):
    nothing = tmp_path / "nothing-listens-here.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{nothing}")
    expected = (f"no Docker engine answers at unix://{nothing}; start one with: bash scripts/docker-up "
                "(or `dockerd`, or `systemctl start docker`)")

    assert get_runner(RESOURCE).unavailable_reason() == expected
    [resource] = [r for r in api.resources() if r.name == RESOURCE]
    assert (resource.name, resource.available, resource.reason) == (RESOURCE, False, expected)

    with pytest.raises(ResourceError) as caught:
        launch(api, docker_image="launcher-base:bookworm", entry_point=["true"])
    assert str(caught.value) == expected
    [record] = api.runs()
    assert (record.state, record.message) == ("start_failed", expected)


def _running_on(private_engine, api, command: str, keep: bool = False):
    image = private_engine.import_tiny_image()
    run = submit(api.workspace, merge_request(docker_image=image, entry_point=["sh", "-c", command],
                                    resource_args={RESOURCE: {"keep": keep}}))
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
             what="the owner to notice")
    assert run.state == "running"  # nothing is known yet: the container may still be alive

    private_engine.start()  # without live-restore, the engine ends the containers it lost
    assert not run.wait(timeout=60)
    status = run.get_status()
    assert status.state == "failed"
    # The restarted engine stops what it lost with SIGTERM, which the container's init passes on.
    assert status.exit_code == 143
    assert status.message == "killed by SIGTERM (the Docker engine went away during the run)"
    assert run.get_logs() == "before\n"  # replayed from the log driver without repeating a byte
    assert Engine(private_engine.host).containers({"launcher.run_id": run.id}) == []


def test_cancel_while_the_engine_is_away(api, private_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)
    run = _running_on(private_engine, api, "echo before; sleep 300")

    private_engine.kill()
    wait_for(lambda: any("lost the connection to the Docker engine" in n for n in _notes(run)), timeout=30,
             what="the owner to notice")
    status = run.cancel(grace_period=0)
    assert status.state == "stopped"
    assert "while the Docker engine was not answering" in status.message

    private_engine.start()
    engine = Engine(private_engine.host)
    assert engine.containers({"launcher.run_id": run.id}) != []  # left behind: nobody could remove it
    assert pending(api.home.resolve()) == [run.id]
    Api(api.home).close()  # reopening the workspace, now that the engine answers, removes it
    assert engine.containers({"launcher.run_id": run.id}) == []
    assert pending(api.home.resolve()) == []


def test_a_launch_removes_containers_left_by_runs_that_ended_while_the_engine_was_away(api, private_engine,
                                                                                       monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)
    run = _running_on(private_engine, api, "echo before; sleep 300")
    kept = _running_on(private_engine, api, "echo before; sleep 300", keep=True)
    private_engine.kill()
    for each in (run, kept):
        wait_for(lambda each=each: any("lost the connection" in n for n in _notes(each)), timeout=30,
                 what="the owners to notice")
        assert each.cancel(grace_period=0).state == "stopped"
    private_engine.start()
    launch(api, docker_image=PrivateEngine.IMAGE, entry_point=["sh", "-c", "true"])
    engine = Engine(private_engine.host)
    assert engine.containers({"launcher.run_id": run.id}) == []
    assert len(engine.containers({"launcher.run_id": kept.id})) == 1  # kept, as asked
