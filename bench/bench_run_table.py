"""The run table's data side with 10,000 runs x 20 metrics: sort, filter and column change (target: each
<= 200 ms), measured on the engine's part (launcher/runtable.py, launcher/runfilter.py) the TUI and
`launcher runs` use; drawing the table is the TUI's (bench_tui.py).

The workspace is real: runs recorded through the store (each with a config of 6 keys), 20 metrics' latest
values per run in its metrics table. Each operation is timed on the loaded rows, against a baseline in the
same run: SQLite doing the same over its own tables (ORDER BY on an indexed column, a WHERE with the same
conditions, a query of the new column's values).

Run: .venv/bin/python bench/bench_run_table.py [--runs N] [--metrics N] [--repeat N]"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_SECONDS = 0.2
FILTER = "m3<0.5 lr=0.01 state:finished optimizer.name=adam run-1"


def median_seconds(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def make_workspace(home: Path, runs: int, metrics: int):
    from launcher import Api
    from launcher.states import RunState

    api = Api(home, reattach=False)
    store = api.workspace.store
    rng = random.Random(7)
    for number in range(runs):
        run_id = f"r{number:06d}"
        config = {"lr": rng.choice([0.1, 0.01, 0.001]), "batch": rng.choice([32, 64, 128]),
                  "optimizer": {"name": rng.choice(["adam", "sgd"]), "momentum": round(rng.random(), 3)},
                  "seed": number, "tag": f"trial-{number % 17}"}
        store.insert_run(run_id=run_id, name=f"run-{number}", project="bench", entity="bench", job="bench/train:v0",
                         resource="local-process", spec={"run_config": config})
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET state=?, ended_at=created_at + 60", (RunState.FINISHED,))
        conn.executemany("INSERT INTO metrics_latest (run_id, name, step, value, at) VALUES (?, ?, ?, ?, ?)",
                         [(f"r{number:06d}", f"m{metric}", 100, rng.random(), 0.0)
                          for number in range(runs) for metric in range(metrics)])
        conn.executemany("INSERT INTO metric_index (run_id, done, sources_done) VALUES (?, 1, 1)",
                         [(f"r{number:06d}",) for number in range(runs)])
    return api


def report(what: str, seconds: float, baseline: float, baseline_name: str) -> None:
    verdict = "ok" if seconds <= TARGET_SECONDS else "OVER TARGET"
    print(f"{what}: {seconds * 1000:.1f} ms (target <= {TARGET_SECONDS * 1000:.0f} ms, {verdict}); "
          f"{baseline_name} {baseline * 1000:.1f} ms, ratio {seconds / baseline:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.runs < 1 or args.metrics < 4 or args.repeat < 1:
        parser.error("--runs >= 1, --metrics >= 4, --repeat >= 1")
    from launcher.runfilter import parse_filter
    from launcher.runtable import Column, ColumnKind, cells, sort_rows

    with tempfile.TemporaryDirectory(prefix="bench-run-table-") as temporary:
        started = time.perf_counter()
        api = make_workspace(Path(temporary) / "workspace", args.runs, args.metrics)
        print(f"{args.runs} runs x {args.metrics} metrics recorded in {time.perf_counter() - started:.1f} s; "
              f"median of {args.repeat}")
        store = api.workspace.store

        load, rows = median_seconds(lambda: api.runs.table_rows(api.runs(), refresh=False), args.repeat)
        print(f"load (records, flattened configs, latest metrics; once per refresh of the data): "
              f"{load * 1000:.0f} ms")

        metric = Column(ColumnKind.METRIC, "m7")
        sort, ordered = median_seconds(lambda: sort_rows(rows, metric, descending=True), args.repeat)
        sql_sort, _ = median_seconds(lambda: store.query(
            "SELECT run_id FROM metrics_latest WHERE name='m7' ORDER BY value DESC"), args.repeat)
        assert len(ordered) == args.runs
        report("sort on a metric", sort, sql_sort, "SQLite ORDER BY over metrics_latest")

        run_filter = parse_filter(FILTER)
        filtering, kept = median_seconds(lambda: run_filter.apply(rows), args.repeat)
        sql_filter, sql_kept = median_seconds(lambda: store.query(
            "SELECT r.id FROM runs r JOIN metrics_latest m ON m.run_id = r.id AND m.name = 'm3' "
            "WHERE m.value < 0.5 AND json_extract(r.spec, '$.run_config.lr') = 0.01 AND r.state = 'finished' "
            "AND json_extract(r.spec, '$.run_config.optimizer.name') = 'adam' "
            "AND (r.id || ' ' || r.name || ' ' || r.job || ' ' || r.resource || ' ' || r.state || ' ' || r.project) "
            "LIKE '%run-1%'"), args.repeat)
        report(f"filter {FILTER!r} ({len(kept)} of {args.runs} runs)", filtering, sql_filter,
               f"SQLite WHERE with the same conditions ({len(sql_kept)} rows)")

        columns = [Column(ColumnKind.FIELD, "name"), Column(ColumnKind.CONFIG, "lr"),
                   Column(ColumnKind.METRIC, "m0"), Column(ColumnKind.METRIC, "m1")]
        changed = [*columns, Column(ColumnKind.CONFIG, "optimizer.name"), Column(ColumnKind.METRIC, "m9")]
        change, texts = median_seconds(lambda: cells(ordered, changed), args.repeat)
        sql_column, _ = median_seconds(lambda: store.query(
            "SELECT run_id, value FROM metrics_latest WHERE name='m9'"), args.repeat)
        assert len(texts) == args.runs
        report("column change (cells of every run for 6 columns)", change, sql_column,
               "SQLite query of the new metric column")
        api.close()


if __name__ == "__main__":
    main()
