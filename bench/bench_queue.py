"""Queue throughput: queue N trivial items and drain them with one agent at max-jobs 4 on local-process,
against launching the same runs directly with the same concurrency (4 at once, submitted one after
another from one thread, ends awaited through the runs' handles, as the agent does).

    python bench/bench_queue.py [--count 1000] [--max-jobs 4]

Prints items/s, the agent's overhead per item and the ratio agent time / direct time, in wall-clock time
and in this process's CPU time (which excludes the runs' own processes, so it is what the agent itself
costs, and it is far less disturbed by other load on the machine). With --rounds N, each side's best
round is reported."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import Api, launch_add  # noqa: E402
from launcher.agent import Agent  # noqa: E402
from launcher.launching import submit  # noqa: E402
from launcher.spec import merge_request  # noqa: E402
from launcher.states import RunState  # noqa: E402


def slot_idle(api: Api, since: float, seconds: float, max_jobs: int, count: int) -> float:
    """Per item, how long a slot stayed empty: the time a launcher adds around the runs themselves
    (max_jobs x wall time, minus the time runs were alive from creation to end)."""
    rows = api.workspace.store.query("SELECT SUM(ended_at - created_at) AS busy FROM runs WHERE created_at >= ?", (since,))
    return (seconds * max_jobs - rows[0]["busy"]) / count


def direct(api: Api, job: str, count: int, max_jobs: int) -> tuple[float, float, float]:
    slots = threading.Semaphore(max_jobs)
    waiters = []
    cpu = time.process_time()
    since = time.time()
    started = time.perf_counter()
    for _ in range(count):
        slots.acquire()
        run = submit(api.workspace, merge_request(job=job))

        def wait(run=run) -> None:
            try:
                run.wait()
            finally:
                slots.release()

        waiter = threading.Thread(target=wait)
        waiter.start()
        waiters.append(waiter)
    for waiter in waiters:
        waiter.join()
    seconds = time.perf_counter() - started
    return seconds, time.process_time() - cpu, slot_idle(api, since, seconds, max_jobs, count)


def queued(api: Api, job: str, count: int, max_jobs: int) -> tuple[float, float, float, float]:
    started = time.perf_counter()
    for _ in range(count):
        launch_add(api, job=job)
    adding = time.perf_counter() - started
    agent = Agent(api.workspace, ["default"], max_jobs, poll_seconds=0.5)
    done = threading.Event()
    # The agent reports each run's end; the drain is over when all have ended (no polling here, so the
    # CPU time measured is the agent's).
    ended = 0

    def on_event(text: str) -> None:
        nonlocal ended
        if text.endswith(" ended"):
            ended += 1
            if ended == count:
                done.set()

    agent.on_event = on_event
    cpu = time.process_time()
    since = time.time()
    started = time.perf_counter()
    agent.start()
    done.wait()
    draining = time.perf_counter() - started
    cpu = time.process_time() - cpu
    agent.stop()
    agent.join()
    return adding, draining, cpu, slot_idle(api, since, draining, max_jobs, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="items (and direct runs); default 1000")
    parser.add_argument("--max-jobs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1, help="alternate direct and queued rounds; best of each")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    try:
        (root / "src").mkdir()
        (root / "src" / "noop.py").write_text("pass\n")
        with Api(root / "ws") as api:
            api.create_job("code", str(root / "src"), name="noop", entry_point=["python", "noop.py"])
            direct_rounds, queued_rounds = [], []
            for _ in range(args.rounds):
                direct_rounds.append(direct(api, "noop", args.count, args.max_jobs))
                queued_rounds.append(queued(api, "noop", args.count, args.max_jobs))
            direct_seconds, direct_cpu, direct_idle = min(direct_rounds)
            adding, draining, agent_cpu, agent_idle = min(queued_rounds, key=lambda r: r[1])
            ended = api.workspace.store.query("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
            counts = {r.state: r["n"] for r in ended}
            items = api.workspace.store.query("SELECT state, COUNT(*) AS n FROM queue_items GROUP BY state")
            unfinished = [(r.id, r.state, r.message, api.run(r.id).tail(5))
                          for r in api.workspace.store.query("SELECT id, state, message FROM runs WHERE state != ?",
                                                   (RunState.FINISHED,))]
        assert counts == {RunState.FINISHED: 2 * args.count * args.rounds}, (counts, unfinished[:5])
        print(f"{args.count} trivial runs on local-process, {args.max_jobs} at once")
        print(f"direct launches        {direct_seconds:8.2f} s   {args.count / direct_seconds:8.1f} runs/s")
        print(f"launch_add (queueing)  {adding:8.2f} s   {args.count / adding:8.1f} items/s")
        print(f"agent drain            {draining:8.2f} s   {args.count / draining:8.1f} items/s")
        print(f"agent overhead/item    {(draining - direct_seconds) / args.count * 1000:8.2f} ms wall")
        print(f"ratio agent/direct     {draining / direct_seconds:8.2f} wall")
        print(f"launcher CPU per run   {direct_cpu / args.count * 1000:8.2f} ms direct, "
              f"{agent_cpu / args.count * 1000:.2f} ms agent (+{(agent_cpu - direct_cpu) / args.count * 1000:.2f} ms, "
              f"ratio {agent_cpu / direct_cpu:.2f})")
        print(f"slot idle per item     {direct_idle * 1000:8.2f} ms direct, {agent_idle * 1000:.2f} ms agent "
              f"(+{(agent_idle - direct_idle) * 1000:.2f} ms: the agent's latency per item, independent of run speed)")
        print(f"items: {dict((r['state'], r['n']) for r in items)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
