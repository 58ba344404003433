"""Tracking benchmarks: indexing 100,000 logged points, each source against a baseline in the same run.

1. wandb: the launcher's transaction-log reader (launcher/tracking/wandb_reader.py) versus wandb's own
   reader of the same file, `wandb leet inspect --json` (its Go core), whose history records are then
   turned into the same points (target: ratio >= 1x);
2. MLflow: the launcher's reader (SQL on the SQLite store, launcher/tracking/mlflow_reader.py) versus
   MLflow's own client, `MlflowClient.get_metric_history` per metric (target: >= 1x); the launcher
   reader's client path (used for tracking servers) is timed too;
3. TensorBoard: the launcher's reader (tensorboard's RawEventFileLoader, launcher/tracking/
   tensorboard_reader.py) versus tensorboard's EventAccumulator, keeping every scalar (target: >= 1x);
4. `@metrics` lines: launcher/metrics/markers.py's parser (`parse_chunk`, stepped over the log as
   `index_run` does) over a run log written with launcher/logfile.py's LogWriter, in points/s (target:
   >= 500k/s), against json.loads line by line; and the whole index path (`index_run`: parse and store in
   SQLite) of a real run.

Each of 1-3 is measured twice: the source's reader alone, and `index_run` of a run whose folder holds the
file (finding the source, reading it and storing the points in the workspace's SQLite store): the
indexing the launcher does, against the library's own reader.

Each source's data is written first by the real library (100,000 points: 25,000 steps x 4 metrics).
Times are the median of --repeat reads; both sides have their modules imported before timing.

Run: .venv/bin/python bench/bench_tracking.py [--repeat N] [--only wandb,mlflow,tensorboard,marker]"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STEPS = 25_000
METRICS = ("loss", "accuracy", "learning_rate", "grad_norm")
POINTS = STEPS * len(METRICS)

WANDB_WRITER = f"""
import math, wandb
run = wandb.init(project="bench", config={{"lr": 0.1}})
for step in range({STEPS}):
    wandb.log({{"loss": 1 / (step + 1), "accuracy": step / {STEPS}, "learning_rate": 0.1 * 0.999 ** step,
               "grad_norm": math.sin(step)}})
run.finish()
"""


def median_seconds(action: Callable[[], int], repeat: int) -> tuple[float, int]:
    samples, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def report(source: str, ours: tuple[float, int], baseline: tuple[float, int], baseline_name: str) -> None:
    (our_time, our_count), (base_time, base_count) = ours, baseline
    print(f"{source}: launcher reader {our_time * 1000:.0f} ms ({our_count / our_time / 1000:.0f}k points/s), "
          f"{baseline_name} {base_time * 1000:.0f} ms ({base_count / base_time / 1000:.0f}k points/s), "
          f"ratio {base_time / our_time:.2f}x (target >= 1x)")
    if our_count != base_count:
        print(f"  warning: the launcher read {our_count} points, the baseline {base_count}")


class IndexedRun:
    """A run of a real workspace, ended a minute ago, whose folder holds a library's files: `index()` is
    the launcher's whole index path (find the source, read it, store the points in SQLite), from scratch."""

    def __init__(self, workdir: Path) -> None:
        from launcher import Api

        self.api = Api(workdir / "indexed-workspace", reattach=False)
        store = self.api.workspace.store
        self.run_id = "bench-run"
        store.insert_run(run_id=self.run_id, name="bench", project="bench", entity="bench", job="bench",
                         resource="local-container", spec={"run_config": {}})
        store.transition(self.run_id, "running")
        store.transition(self.run_id, "finished", exit_code=0)
        store.execute("UPDATE runs SET ended_at = ended_at - 60 WHERE id=?", (self.run_id,))
        self.folder = self.api.workspace.run_dir(self.run_id)
        (self.folder / "outputs").mkdir(parents=True)

    def index(self) -> int:
        from launcher.metrics import index_run, indexer

        store = self.api.workspace.store
        for table in ("metrics", "metrics_latest", "metric_sources", "metric_index"):
            store.execute(f"DELETE FROM {table} WHERE run_id=?", (self.run_id,))
        indexer._state.forget(str(self.api.home), self.run_id)
        return index_run(self.api.workspace, self.run_id)


def report_index(source: str, indexed: IndexedRun, baseline: tuple[float, int], baseline_name: str,
                 repeat: int) -> None:
    our_time, our_count = median_seconds(indexed.index, repeat)
    base_time, base_count = baseline
    print(f"{source}: launcher index_run (find, read, store in SQLite) {our_time * 1000:.0f} ms "
          f"({our_count / our_time / 1000:.0f}k points/s), ratio {base_time / our_time:.2f}x against "
          f"{baseline_name} (target >= 1x)")
    if our_count != base_count:
        print(f"  warning: the launcher indexed {our_count} points, the baseline read {base_count}")


def bench_wandb(workdir: Path, repeat: int) -> None:
    from launcher.tracking.wandb_reader import WandbLogReader, find_wandb_logs

    (workdir / "wandb_writer.py").write_text(WANDB_WRITER)
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(workdir), WANDB_RUN_ID="bench")
    subprocess.run([sys.executable, "wandb_writer.py"], cwd=workdir, env=env, check=True, timeout=900)
    [log] = find_wandb_logs(workdir)
    wandb_cli = str(Path(sys.executable).with_name("wandb"))

    def ours() -> int:
        return len(WandbLogReader(log).read(final=True).points)

    def wandb_own_reader() -> int:
        printed = subprocess.run([wandb_cli, "leet", "inspect", "--json", str(log)], capture_output=True,
                                 check=True, timeout=600, env=env).stdout
        points = []
        for line in printed.splitlines():
            record = json.loads(line)
            if record.get("type") != "history":
                continue
            items = record["history"]["item"]
            step, at = items.get("_step"), items.get("_timestamp")
            points.extend((name, step, float(value), at) for name, value in items.items()
                          if not name.startswith("_") and isinstance(value, int | float))
        return len(points)

    print(f"wandb: {log.stat().st_size / 1e6:.1f} MB transaction log")
    baseline = median_seconds(wandb_own_reader, repeat)
    report("wandb", median_seconds(ours, repeat), baseline, "`wandb leet inspect --json` + JSON")
    indexed = IndexedRun(workdir)
    placed = indexed.folder / "outputs" / "wandb" / "offline-run-20250101_000000-bench"
    placed.mkdir(parents=True)
    shutil.copy(log, placed / log.name)
    report_index("wandb", indexed, baseline, "`wandb leet inspect --json` + JSON", repeat)


def bench_mlflow(workdir: Path, repeat: int) -> None:
    import math

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from launcher.tracking import tie
    from launcher.tracking.mlflow_reader import MlflowReader, _unreachable_server  # noqa: F401 (warm)
    from launcher.tracking.mlflow_run import ensure_mlflow_run
    from launcher.tracking.targets import MlflowStore, TrackedRun

    store = MlflowStore.in_workspace(workdir / "workspace")
    run_id = ensure_mlflow_run(store, TrackedRun("bench", "bench", "bench", "bench", workdir), "bench")
    client = MlflowClient(tracking_uri=store.tracking_uri)
    now = int(time.time() * 1000)
    values = {"loss": lambda s: 1 / (s + 1), "accuracy": lambda s: s / STEPS,
              "learning_rate": lambda s: 0.1 * 0.999 ** s, "grad_norm": math.sin}
    batch: list[Metric] = []
    for step in range(STEPS):
        batch.extend(Metric(name, values[name](step), now + step, step) for name in METRICS)
        if len(batch) >= 1000:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)

    def ours() -> int:
        return len(MlflowReader(store.tracking_uri, run_id).read().points)

    def mlflow_client() -> int:
        fresh = MlflowClient(tracking_uri=store.tracking_uri)
        names = fresh.get_run(run_id).data.metrics
        return sum(len(fresh.get_metric_history(run_id, name)) for name in names)

    def ours_through_the_client() -> int:
        reader = MlflowReader(store.tracking_uri, run_id)
        return len(reader._read_with_client().points)

    print(f"mlflow: {store.database.stat().st_size / 1e6:.1f} MB SQLite store")
    mine = median_seconds(ours, repeat)
    baseline = median_seconds(mlflow_client, repeat)
    report("mlflow", mine, baseline, "MlflowClient.get_metric_history")
    indexed = IndexedRun(workdir)
    tie.write(indexed.folder / tie.TIE_FILE, tie.MlflowTie(
        tracking_uri=store.tracking_uri, experiment="bench", workspace_store=True, run_id=indexed.run_id,
        run_name="bench", project="bench", job="bench", mlflow_run_id=run_id))
    report_index("mlflow", indexed, baseline, "MlflowClient.get_metric_history", repeat)
    through_client = median_seconds(ours_through_the_client, repeat)
    print(f"  launcher reader through MLflow's client (its path for tracking servers): "
          f"{through_client[0] * 1000:.0f} ms, {through_client[0] / mine[0]:.1f}x the SQL path's time")


def bench_tensorboard(workdir: Path, repeat: int) -> None:
    import math

    from tensorboard.backend.event_processing import event_accumulator
    from tensorboardX import SummaryWriter

    from launcher.tracking.tensorboard_reader import TensorboardReader

    logdir = workdir / "tensorboard"
    writer = SummaryWriter(str(logdir), max_queue=1000)
    for step in range(STEPS):
        writer.add_scalar("loss", 1 / (step + 1), step)
        writer.add_scalar("accuracy", step / STEPS, step)
        writer.add_scalar("learning_rate", 0.1 * 0.999 ** step, step)
        writer.add_scalar("grad_norm", math.sin(step), step)
    writer.close()
    [events] = logdir.glob("events.out.tfevents.*")

    def ours() -> int:
        return len(TensorboardReader(logdir).read(final=True).points)

    def accumulator() -> int:
        reader = event_accumulator.EventAccumulator(str(events), size_guidance={event_accumulator.SCALARS: 0})
        reader.Reload()
        return sum(len(reader.Scalars(tag)) for tag in reader.Tags()["scalars"])

    print(f"tensorboard: {events.stat().st_size / 1e6:.1f} MB event file")
    baseline = median_seconds(accumulator, repeat)
    report("tensorboard", median_seconds(ours, repeat), baseline, "EventAccumulator (all scalars kept)")
    indexed = IndexedRun(workdir)
    shutil.copy(events, indexed.folder / "outputs" / events.name)
    report_index("tensorboard", indexed, baseline, "EventAccumulator (all scalars kept)", repeat)


def bench_marker(workdir: Path, repeat: int) -> None:
    from launcher.logfile import LogWriter
    from launcher.metrics import markers

    log = workdir / "output.log"
    writer = LogWriter(log)
    lines = [b'@metrics {"loss": %r, "accuracy": %r, "learning_rate": %r, "grad_norm": %r, "step": %d}\n'
             % (1 / (step + 1), step / STEPS, 0.1 * 0.999 ** step, 0.5, step) for step in range(STEPS)]
    for start in range(0, STEPS, 500):  # arrival chunks of 500 lines, one timestamp each, as capture writes
        writer.write("stdout", b"".join(lines[start:start + 500]))
    size = log.stat().st_size

    def parse() -> int:
        state = markers.MarkerParse(0, 0, False)
        with open(log, "rb") as file:
            while state.offset < size:
                file.seek(state.offset)
                chunk = file.read(markers.CHUNK_BYTES)
                markers.parse_chunk(state, chunk, state.offset, final=len(chunk) < markers.CHUNK_BYTES)
        return len(state.points)

    def parse_line_by_line() -> int:
        """The baseline: the indexer before this one, json.loads and a timestamp parse for each line."""
        from datetime import datetime

        points = []
        with open(log, "rb") as file:
            for record in file:
                parsed = markers.parse_marker(record[30:].rstrip(b"\n"))
                if parsed is not None:
                    at = datetime.fromisoformat(record[:27].decode()).timestamp()
                    points.extend((name, parsed[0], value, at) for name, value in parsed[1].items())
        return len(points)

    seconds, count = median_seconds(parse, repeat)
    baseline, _ = median_seconds(parse_line_by_line, repeat)
    print(f"@metrics lines: parser {seconds * 1000:.0f} ms for {count} points, {count / seconds / 1000:.0f}k "
          f"points/s (target >= 500k points/s); line by line with json.loads {count / baseline / 1000:.0f}k "
          f"points/s, ratio {baseline / seconds:.2f}x")
    bench_marker_index(workdir, lines, repeat)


def bench_marker_index(workdir: Path, lines: list[bytes], repeat: int) -> None:
    """The whole index path of a real run: its log parsed and its points stored in the workspace."""
    from launcher import Api, launch, metrics

    samples = []
    for attempt in range(repeat):
        source = workdir / f"printer{attempt}"
        source.mkdir()
        (source / "lines.txt").write_bytes(b"".join(lines))
        (source / "main.py").write_text("import sys\nsys.stdout.buffer.write(open('lines.txt', 'rb').read())\n")
        api = Api(workdir / f"workspace{attempt}")
        try:
            api.create_job("code", str(source), name="printer", entry_point=["python", "main.py"])
            run = launch(api, job="printer")
            start = time.perf_counter()
            count = metrics.index_run(api.workspace, run.id)
            samples.append((time.perf_counter() - start, count))
        finally:
            api.close()
    seconds = statistics.median(sample[0] for sample in samples)
    count = samples[0][1]
    print(f"@metrics lines: index_run of a real run (parse + SQLite) {seconds * 1000:.0f} ms for {count} "
          f"points, {count / seconds / 1000:.0f}k points/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="wandb,mlflow,tensorboard,marker")
    args = parser.parse_args()
    chosen = {name.strip() for name in args.only.split(",")}
    benches = {"wandb": bench_wandb, "mlflow": bench_mlflow, "tensorboard": bench_tensorboard,
               "marker": bench_marker}
    unknown = chosen - benches.keys()
    if unknown or args.repeat < 1:
        parser.error(f"--only takes {', '.join(benches)}; --repeat at least 1 (got {sorted(unknown)}, "
                     f"{args.repeat})")
    print(f"{POINTS} points per source ({STEPS} steps x {len(METRICS)} metrics), median of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as temporary:
        for name, bench in benches.items():
            if name in chosen:
                folder = Path(temporary) / name
                folder.mkdir()
                bench(folder, args.repeat)


if __name__ == "__main__":
    main()
