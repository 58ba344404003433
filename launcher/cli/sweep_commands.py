"""`launcher sweep create|list|show|pause|resume|cancel`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from launcher.cli.main import EXIT_OK
from launcher.cli.output import table, when
from launcher.records import public
from launcher.states import ItemState


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="create and manage sweeps (a job tried with many run configs)")
    commands = parser.add_subparsers(title="sweep commands", metavar="COMMAND", required=True)

    create = commands.add_parser("create", help="create a sweep from a TOML file and queue its trials",
                                 description="Queue one item per trial; run them with 'launcher agent'.")
    create.add_argument("file", help="sweep file (TOML): job, method, parameters, run_cap, metric, queue")
    create.add_argument("--seed", type=int, help="seed for method = 'random' (overrides the file's)")
    create.set_defaults(handler=create_command)

    listing = commands.add_parser("list", help="list sweeps")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    show = commands.add_parser("show", help="show a sweep's trials, best first when it has a metric")
    show.add_argument("sweep", help="sweep id (or an unambiguous prefix) or name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    for name, text in (("pause", "agents stop taking the sweep's trials"), ("resume", "resume a paused sweep"),
                       ("cancel", "cancel waiting trials and stop running ones")):
        command = commands.add_parser(name, help=text)
        command.add_argument("sweep")
        command.set_defaults(handler=move_command, action=name)


def create_command(args: argparse.Namespace, open_api) -> int:
    sweep = open_api().sweeps.create(args.file, seed=args.seed)
    seed = f", seed {sweep.config['seed']}" if "seed" in sweep.config else ""
    print(f"sweep {sweep.id} ({sweep.name}): {sweep.trials} trial(s) queued on {sweep.queue} "
          f"({sweep.method}{seed})")
    return EXIT_OK


def list_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    records = api.sweeps()
    if args.json:
        print(json.dumps([public(s) for s in records], indent=2))
        return EXIT_OK
    rows = [(s.id, s.name, s.state, s.method, s.queue, _metric(s.metric), s.trials,
             s.counts[ItemState.QUEUED], s.counts[ItemState.RUNNING] + s.counts[ItemState.CLAIMED],
             s.counts[ItemState.FINISHED], s.counts[ItemState.FAILED], when(s.created_at)) for s in records]
    print(table(("ID", "NAME", "STATE", "METHOD", "QUEUE", "METRIC", "TRIALS", "QUEUED", "RUNNING", "FINISHED",
                 "FAILED", "CREATED"), rows))
    return EXIT_OK


def show_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    sweep = api.sweeps.get(args.sweep)
    trials = api.sweeps.trials(sweep.id)
    if args.json:
        print(json.dumps({"sweep": public(sweep), "trials": [public(t) for t in trials]}, indent=2))
        return EXIT_OK
    print(f"sweep {sweep.id} ({sweep.name}) {sweep.state}  method {sweep.method}  "
          f"queue {sweep.queue}  metric {_metric(sweep.metric)}")
    metric = sweep.metric["name"] if sweep.metric else None
    headers = ["ITEM", "STATE", "RUN", "PARAMETERS"] + ([metric.upper()] if metric else [])
    rows = [[t.item_id, t.state, t.run_id or "", json.dumps(t.parameters, ensure_ascii=False)]
            + ([f"{t.metric:.6g}" if t.metric is not None else ""] if metric else []) for t in trials]
    print(table(headers, rows))
    return EXIT_OK


def move_command(args: argparse.Namespace, open_api) -> int:
    sweeps = open_api().sweeps
    action = {"pause": sweeps.pause, "resume": sweeps.resume, "cancel": sweeps.cancel}[args.action]
    sweep = action(args.sweep)
    print(f"sweep {sweep.id} {sweep.state}")
    return EXIT_OK


def _metric(metric: Mapping[str, Any] | None) -> str:
    return f"{metric['name']} ({metric['goal']})" if metric else "-"
