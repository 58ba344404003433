"""`launcher compare RUN RUN...`: runs side by side: their configs (keys whose values differ first, marked
`*`) and each metric's final and best value per run (the best run's marked `*`)."""

from __future__ import annotations

import argparse
import json

from launcher.cli.main import EXIT_OK
from launcher.cli.output import table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare runs: configs side by side and each metric's final and best values",
        description="Configs side by side (keys whose values differ first, marked *), then each metric's "
                    "final value with the best one in brackets; best is the lowest for names like loss or "
                    "error and the highest otherwise (the GOAL column says which), the best run marked *.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run ids (or unambiguous prefixes), at least two")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(handler=compare_command)


def compare_command(args: argparse.Namespace, open_api) -> int:
    from launcher.compare import MISSING

    comparison = open_api().runs.compare(args.runs)
    if args.json:
        print(json.dumps(comparison.to_json(), indent=2))
        return EXIT_OK
    runs = comparison.runs
    heads = [f"{run.id} ({run.name})" if run.name != run.id else run.id for run in runs]
    print(table(("", *heads), [("state", *(str(run.state) for run in runs)),
                               ("job", *(run.job for run in runs))]))
    print()
    if comparison.config:
        rows = [(("* " if row.differs else "  ") + row.key,
                 *("-" if value is MISSING else _text(value) for value in row.values)) for row in comparison.config]
        print(table(("CONFIG", *heads), rows))
    else:
        print("no config keys")
    print()
    if not comparison.metrics:
        print("no metrics reported by these runs")
        return EXIT_OK
    rows = []
    for metric in comparison.metrics:
        best_run = metric.best_run
        rows.append((metric.name, metric.goal.value[:3],
                     *(_final_best(final, best, index == best_run)
                       for index, (final, best) in enumerate(zip(metric.finals, metric.bests, strict=True)))))
    print(table(("METRIC: final (best)", "GOAL", *heads), rows))
    if not comparison.shared_metrics:
        print("(these runs share no metric)")
    return EXIT_OK


def _text(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _final_best(final: float | None, best: float | None, is_best: bool) -> str:
    if final is None or best is None:
        return "-"
    return f"{final:.6g} ({best:.6g})" + (" *" if is_best else "")
