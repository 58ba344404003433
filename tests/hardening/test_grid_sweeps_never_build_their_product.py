"""Issue 10, finding 5: a grid sweep used to build its whole product before applying run_cap (12 parameters x 40
values reached 7.2 GB in 30 s; with run_cap = 5, MemoryError). Trials are now generated lazily: a grid
larger than run_cap never builds its product, and a grid with no run_cap beyond MAX_TRIALS is refused with
its size named, in one line, before anything is stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from launcher.sweeps import MAX_TRIALS, SweepError, parse_sweep
from tests.queue.conftest import cli_argv, one_line_error

#: The address space the process creating the huge sweep may use: far more than a lazy grid needs, far less
#: than a built one (the old code hit MemoryError here in about a second instead of eating the machine).
ADDRESS_SPACE = 1 << 30
HUGE_GRID = {f"p{i:02d}": list(range(40)) for i in range(12)}  # 40**12 combinations

@pytest.fixture
def worker(api, make_code_dir) -> str:
    """A job that takes any run config."""
    api.create_job("code", str(make_code_dir({"train.py": "print('trial')\n"})), name="trial",
                   entry_point=["python", "train.py"])
    return "trial"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, LAUNCHER_HOME=str(home)))


CREATE_IN_A_CAPPED_PROCESS = textwrap.dedent("""
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from launcher import Api
    with Api(sys.argv[1]) as api:
        definition = json.loads(sys.argv[2])
        started = time.perf_counter()
        sweep = api.sweeps.create(definition)
        seconds = time.perf_counter() - started
        print(json.dumps({{"id": sweep.id, "trials": sweep.trials, "seconds": seconds,
                          "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
""")


def test_a_huge_grid_with_a_run_cap_is_created_at_once(api, worker, home):
    definition = {"job": worker, "method": "grid", "run_cap": 5, "parameters": HUGE_GRID}
    script = CREATE_IN_A_CAPPED_PROCESS.format(limit=ADDRESS_SPACE)
    result = subprocess.run([sys.executable, "-c", script, str(home), json.dumps(definition)],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    created = json.loads(result.stdout.strip().splitlines()[-1])
    assert created["trials"] == 5
    assert created["seconds"] < 2.0, created
    assert created["peak_kib"] * 1024 < ADDRESS_SPACE // 4, created
    # The first five combinations in order: the last parameter moves fastest.
    trials = [t.parameters for t in sorted(api.sweeps.trials(created["id"]), key=lambda t: t.item_id)]
    first = {name: 0 for name in HUGE_GRID}
    assert trials == [{**first, "p11": value} for value in range(5)]


def test_a_huge_grid_without_a_run_cap_is_refused_with_its_size(api, worker, home, tmp_path):
    path = tmp_path / "sweep.toml"
    lines = "\n".join(f"{name} = {values}" for name, values in HUGE_GRID.items())
    path.write_text(f'job = "{worker}"\nmethod = "grid"\n[parameters]\n{lines}\n')
    error = one_line_error(cli(home, "sweep", "create", str(path)))
    assert f"grid sweep has {40 ** 12:,} trials" in error and "set run_cap" in error
    assert api.sweeps() == [] and api.queue_items() == []


def test_the_limit_is_the_number_of_trials_not_the_grid(worker):
    at_limit = parse_sweep({"job": worker, "parameters": {"a": list(range(100)), "b": list(range(MAX_TRIALS // 100))}})
    assert at_limit.trial_count == MAX_TRIALS
    beyond = {"job": worker, "parameters": {"a": list(range(11)), "b": list(range(9091))}}  # 100,001
    with pytest.raises(SweepError, match=f"grid sweep has 100,001 trials \\(11 x 9091 values\\), more than the "
                                         f"{MAX_TRIALS:,}"):
        parse_sweep(beyond)
    capped = parse_sweep({**beyond, "run_cap": 3})
    assert capped.trial_count == 3 and capped.trials() == [{"a": 0, "b": 0}, {"a": 0, "b": 1}, {"a": 0, "b": 2}]
    small = parse_sweep({"job": worker, "parameters": {"a": [1, 2]}, "run_cap": 50})
    assert small.trial_count == 2 and len(small.trials()) == 2  # a cap above the grid's size: the whole grid


def test_trials_come_one_at_a_time(worker):
    config = parse_sweep({"job": worker, "run_cap": MAX_TRIALS, "parameters": HUGE_GRID})
    tracemalloc.start()
    try:
        trials = config.iter_trials()
        drawn = [next(trials) for _ in range(3)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert drawn[0] == {name: 0 for name in HUGE_GRID} and drawn[2]["p11"] == 2
    assert peak < 1 << 20  # bytes: three trials' worth, nothing built ahead (a built grid needs gigabytes)
