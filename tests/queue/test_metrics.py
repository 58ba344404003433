"""Live metrics: `@metrics {...}` lines on stdout become per-run series (step and time), indexed from the
log exactly once whoever indexes and however the lines arrive; malformed markers stay plain log lines."""

from __future__ import annotations

import json
import threading

import pytest

from launcher import Api
from launcher.metrics import index_run, latest_metrics, parse_marker
from launcher.metrics import indexer as metrics_indexer
from launcher.spec import merge_request
from launcher.states import RunState
from tests.waiting import wait_for


@pytest.fixture
def start_program(api, make_code_dir):
    """start_program(source, **run_config) -> a Run of `python prog.py` on local-process."""
    def start(source: str, **config):
        src = make_code_dir({"prog.py": source})
        name = f"prog{len(api.list_jobs())}"
        api.create_job("code", str(src), name=name, entry_point=["python", "prog.py"])
        return api.runs.submit(merge_request(job=name, config={"overrides": {"run_config": config}}))
    return start


REPORTER = r"""
import sys
lines = [
    '@metrics {"loss": 0.9, "acc": 0.1, "step": 10}',
    '@metrics {"loss": 0.7}',
    '@metrics {bad json',
    '@metrics [1, 2]',
    '@metrics {"loss": "high"}',
    '@metrics {"loss": 1, "step": -1}',
    '@metrics {"loss": 1, "step": "two"}',
    '@metrics{"loss": 5}',
    ' @metrics {"loss": 5}',
    '@metrics {"loss": NaN, "flag": true}',
    'progress 50% @metrics {"loss": 5}',
    '@metrics {"loss": 0.5, "acc": 0.4, "step": 20.0, "note": "text"}',
    '@metrics {"acc": 0.6}\r',
]
for line in lines:
    print(line)
print('@metrics {"loss": 9}', file=sys.stderr)
print("end")
"""


def test_markers_become_series_and_malformed_lines_stay_log_lines(api, start_program):
    run = start_program(REPORTER)
    assert run.wait(timeout=30) and run.state == RunState.FINISHED
    series = api.metrics(run.id)
    assert {name: [(p.step, p.value) for p in points] for name, points in series.items()} == {
        "loss": [(10, 0.9), (11, 0.7), (20, 0.5)],
        "acc": [(10, 0.1), (20, 0.4), (21, 0.6)],
    }
    start, end = run.record.created_at, run.record.ended_at
    assert all(start - 1 <= p.time <= end + 1 for points in series.values() for p in points)
    logs = run.get_logs(streams=("stdout",))
    assert "@metrics {bad json\n" in logs and "progress 50% @metrics" in logs and logs.endswith("end\n")
    assert {name: p.value for name, p in latest_metrics(api.workspace, [run.id])[run.id].items()} == {"loss": 0.5, "acc": 0.6}


@pytest.mark.parametrize("payload, expected", [
    (b'@metrics {"x": 1}', (None, {"x": 1.0})),
    (b'@metrics {"x": 1, "step": 3}', (3, {"x": 1.0})),
    (b'@metrics {"x": 1e400}', None),          # infinite
    (b'@metrics {"step": 3}', None),           # no values
    (b'@metrics {"x": true}', None),
    (b'@metrics {"x": 1, "step": 1.5}', None),
    (b'@metrics ' + b'[' * 5000 + b']' * 5000, None),
    (b'@metrics \xff\xfe', None),
    (b'@metric {"x": 1}', None),
])
def test_parse_marker(payload, expected):
    assert parse_marker(payload) == expected


# Writes half a marker line, waits, then the rest: the log holds a fragment record in between.
SPLIT_WRITER = r"""
import json, os, sys, time
cfg = json.loads(os.environ["LAUNCHER_CONFIG"])
def wait(path):
    open(path + ".reached", "w").close()
    while not os.path.exists(path):
        time.sleep(0.02)
out = sys.stdout
out.write('@metrics {"loss": 1.0}\n@metrics {"lo'); out.flush()
print("on stderr meanwhile", file=sys.stderr, flush=True)
wait(cfg["gate1"])
out.write('ss": 2.0}\n' + "x" * 300); out.flush()
wait(cfg["gate2"])
out.write("y" * 300 + '@metrics {"loss": 99}\n@metrics {"loss": 3.0}\n@metrics {"loss": 4.0}'); out.flush()
"""


def test_lines_arriving_in_pieces_are_indexed_exactly_once(api, start_program, tmp_path, monkeypatch):
    monkeypatch.setattr(metrics_indexer, "SETTLE_SECONDS", 0.0)
    gate1, gate2 = tmp_path / "gate1", tmp_path / "gate2"
    run = start_program(SPLIT_WRITER, gate1=str(gate1), gate2=str(gate2))
    log = run.log_path

    wait_for(lambda: (tmp_path / "gate1.reached").exists(), what="first half written")
    wait_for(lambda: b" o @metrics {\"lo" in log.read_bytes(), what="the fragment in the log")
    assert index_run(api.workspace, run.id) == 1  # the complete line only; the half line waits
    assert index_run(api.workspace, run.id) == 0
    assert [p.value for p in api.metrics(run.id)["loss"]] == [1.0]

    gate1.write_text("go")
    wait_for(lambda: (tmp_path / "gate2.reached").exists(), what="second piece written")
    wait_for(lambda: b"xxx" in log.read_bytes(), what="the long line's start in the log")
    assert index_run(api.workspace, run.id) == 1
    row = api.workspace.store.query("SELECT skipping FROM metric_index WHERE run_id=?", (run.id,))[0]
    assert row["skipping"] == 1  # the unfinished x-line cannot be a marker: it is skipped, not held

    gate2.write_text("go")
    assert run.wait(timeout=30)
    # The rest of the x-line (which contains a marker, but not at its start) is skipped; 3.0 is a line;
    # 4.0 was never ended with a newline and is taken once the run is over.
    assert [(p.step, p.value) for p in api.metrics(run.id)["loss"]] == [(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0)]
    assert api.workspace.store.query("SELECT done FROM metric_index WHERE run_id=?", (run.id,))[0]["done"] == 1
    assert index_run(api.workspace, run.id) == 0
    assert run.get_logs().endswith('@metrics {"loss": 4.0}')


CHATTY = r"""
import sys, time
for step in range(1500):
    print('@metrics {"loss": %d, "step": %d}' % (step, step))
    if step % 50 == 0:
        print("noise " * 20, file=sys.stderr)
        sys.stdout.flush()
        time.sleep(0.005)
"""


def test_concurrent_indexers_store_each_point_once(api, home, start_program):
    run = start_program(CHATTY)
    errors = []

    def index_until_done() -> None:
        workspace = Api(home, reattach=False)  # another process's view: its own connection
        try:
            while True:
                done = workspace.run(run.id).get_status().done
                index_run(workspace.workspace, run.id)
                if done:
                    return
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            workspace.close()

    threads = [threading.Thread(target=index_until_done) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    points = api.metrics(run.id)["loss"]
    assert [p.step for p in points] == list(range(1500))
    assert [p.value for p in points] == [float(s) for s in range(1500)]


def test_cli_prints_metrics(api, start_program, cli):
    run = start_program(REPORTER)
    run.wait(timeout=30)
    result = cli("metrics", run.id[:5], "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [[step, value] for step, value, _ in data["loss"]] == [[10, 0.9], [11, 0.7], [20, 0.5]]
    summary = cli("metrics", run.id).stdout.splitlines()
    assert summary[0].split() == ["METRIC", "LAST", "STEP", "POINTS", "MIN", "MAX", "TREND"]
    assert summary[1].split()[:6] == ["loss", "0.5", "20", "3", "0.5", "0.9"]
    followed = cli("metrics", run.id, "--follow").stdout.splitlines()
    assert len(followed) == 6 and "acc = 0.6" in followed[-1]
    assert "does not exist" in cli("metrics", "zzzzzz").stderr


def test_latest_metrics_for_a_table(api, start_program):
    runs = [start_program(f'print(\'@metrics {{"loss": {i}, "step": 1}}\')\nprint("@metrics {{\\"loss\\": {i + 0.5}}}")')
            for i in range(3)]
    silent = start_program("print('no metrics here')")
    for run in [*runs, silent]:
        assert run.wait(timeout=30)
    latest = latest_metrics(api.workspace, [r.id for r in [*runs, silent]])
    assert {run_id: {n: (p.step, p.value) for n, p in values.items()} for run_id, values in latest.items()} == {
        run.id: {"loss": (2, i + 0.5)} for i, run in enumerate(runs)}
