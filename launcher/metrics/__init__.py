"""A run's metrics in one model, whatever reported them: `@metrics {json}` lines on stdout, wandb's
transaction log, the tied MLflow run, TensorBoard event files. A metric is a series of points
(name, step, value, time) in the store.

- `markers`: the `@metrics` line parser;
- `channels`: where a run's tracking libraries leave metrics, and their readers (launcher/tracking);
- `indexer`: reading every source of a run into the store, exactly once, with problems noted once;
- `queries`: series, latest values, points since a position, final and best values.

Anyone may index (`launcher metrics`, the Api, agents for their runs, the TUI): reads go through the
queries, which index first."""

from __future__ import annotations

from launcher.metrics.indexer import SETTLE_SECONDS, MetricProblem, index_run, index_runs, problems
from launcher.metrics.markers import MARKER, parse_marker
from launcher.metrics.queries import (
    MetricPoint,
    MetricSummary,
    latest_metrics,
    latest_values,
    points_since,
    run_metrics,
    summaries,
)

__all__ = ["MARKER", "SETTLE_SECONDS", "MetricPoint", "MetricProblem", "MetricSummary", "index_run",
           "index_runs", "latest_metrics", "latest_values", "parse_marker", "points_since", "problems",
           "run_metrics", "summaries"]
