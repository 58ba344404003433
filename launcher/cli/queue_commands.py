"""`launcher queue add|list|show|remove|cancel|create|delete`, `launcher queues`, `launcher agent`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from launcher.cli.launch_commands import add_launch_arguments, launch_settings
from launcher.cli.main import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED
from launcher.cli.output import table, when
from launcher.records import ItemRecord, public
from launcher.states import ItemState


def register(subparsers) -> None:
    parser = subparsers.add_parser("queue", help="put launches on a queue and manage queued items",
                                   description="Queues hold launches until an agent ('launcher agent') runs them.")
    commands = parser.add_subparsers(title="queue commands", metavar="COMMAND", required=True)

    add = commands.add_parser("add", help="put a launch on a queue (same flags as 'launcher launch')",
                              epilog="example: launcher queue add -j demo --priority high -c '{\"parameters\": {\"lr\": 0.1}}'")
    add.add_argument("-q", "--queue", default="default", help="queue name (default: default)")
    add.add_argument("--priority", help="critical, high, medium (default) or low")
    add_launch_arguments(add)
    add.set_defaults(handler=add_command)

    listing = commands.add_parser("list", help="list queued, running and ended items")
    listing.add_argument("-q", "--queue", help="only this queue")
    listing.add_argument("--state", action="append", help="only items in this state (repeatable)")
    listing.add_argument("--sweep", help="only the items of this sweep")
    listing.add_argument("--limit", type=int, default=50, help="at most this many items (0: all)")
    listing.add_argument("--json", action="store_true", help="print JSON records")
    listing.set_defaults(handler=list_command)

    show = commands.add_parser("show", help="show one item")
    show.add_argument("item", help="item id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    remove = commands.add_parser("remove", help="delete queued or ended items")
    remove.add_argument("items", nargs="+", help="item ids")
    remove.set_defaults(handler=remove_command)

    cancel = commands.add_parser("cancel", help="cancel items (a running item's run is stopped)")
    cancel.add_argument("items", nargs="+", help="item ids")
    cancel.set_defaults(handler=cancel_command)

    create = commands.add_parser("create", help="create a queue")
    create.add_argument("name")
    create.set_defaults(handler=create_command)

    delete = commands.add_parser("delete", help="delete a queue that has no active items")
    delete.add_argument("name")
    delete.set_defaults(handler=delete_command)

    queues = subparsers.add_parser("queues", help="list queues with their item counts, and agents")
    queues.add_argument("--json", action="store_true")
    queues.set_defaults(handler=queues_command)

    agent = subparsers.add_parser(
        "agent", help="take items from queues and launch them",
        description="Take items from the queues (round-robin) and launch them, never more than --max-jobs at once. "
                    "Ctrl-C stops taking items and, by --on-stop, waits for the runs, stops them or leaves them running; "
                    "a second Ctrl-C stops them.")
    agent.add_argument("-q", "--queue", action="append", dest="queues", help="queue to take items from (repeatable; "
                       "default: default)")
    agent.add_argument("-m", "--max-jobs", type=int, default=1, help="runs at once (-1: no limit; default 1)")
    agent.add_argument("--on-stop", choices=("wait", "stop", "leave"), default="wait",
                       help="on Ctrl-C, wait for the agent's runs (default), stop them, or leave them running")
    agent.add_argument("--poll", type=float, default=0.5, help="seconds between looks at the queues (default 0.5)")
    agent.set_defaults(handler=agent_command)


def add_command(args: argparse.Namespace, open_api) -> int:
    from launcher.queue import launch_add

    item = launch_add(open_api(), queue_name=args.queue, priority=args.priority, **launch_settings(args))
    record = item.record
    print(f"queued item {item.id} on {record.queue} ({record.priority})", file=sys.stderr)
    print(item.id)
    return EXIT_OK


def list_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    records = api.queue_items(args.queue, states=args.state, sweep_id=_sweep_id(api, args.sweep),
                              limit=args.limit or None)
    if args.json:
        print(json.dumps([item_json(r) for r in records], indent=2))
        return EXIT_OK
    rows = [(r.id, r.queue, r.priority, r.state, r.describe(), r.run_id or "",
             when(r.created_at), _short(r.message)) for r in records]
    print(table(("ID", "QUEUE", "PRIORITY", "STATE", "LAUNCH", "RUN", "QUEUED", "MESSAGE"), rows))
    return EXIT_OK


def show_command(args: argparse.Namespace, open_api) -> int:
    item = open_api().queues.item(args.item)
    item.state  # noqa: B018 - brings the state up to date with its run
    record = item.record
    if args.json:
        print(json.dumps(item_json(record), indent=2))
    else:
        lines = [f"item      {record.id}  on {record.queue} ({record.priority})",
                 f"state     {record.state}" + (f"  {record.message}" if record.message else ""),
                 f"run       {record.run_id or '-'}",
                 f"sweep     {record.sweep_id or '-'}",
                 f"agent     {record.agent_id or '-'}",
                 f"settings  {json.dumps(record.settings, ensure_ascii=False)}",
                 f"queued    {when(record.created_at)}",
                 f"launched  {when(record.launched_at)}",
                 f"ended     {when(record.ended_at)}"]
        print("\n".join(lines))
    return EXIT_RUN_FAILED if record.state is ItemState.FAILED else EXIT_OK


def remove_command(args: argparse.Namespace, open_api) -> int:
    queues = open_api().queues
    items = [queues.item(value) for value in args.items]  # all ids checked before any is removed
    for item in items:
        queues.remove_item(item.id)
        print(f"removed item {item.id}")
    return EXIT_OK


def cancel_command(args: argparse.Namespace, open_api) -> int:
    queues = open_api().queues
    items = [queues.item(value) for value in args.items]
    ended = []
    for item in items:
        before = item.state
        state = queues.cancel_item(item.id)
        if before.is_terminal():
            ended.append(item.id)
            print(f"item {item.id} had already ended ({before}); nothing to cancel", file=sys.stderr)
            continue
        detail = f" (its run {item.record.run_id} is being stopped)" if state is ItemState.RUNNING else ""
        print(f"item {item.id} {state}{detail}")
    return EXIT_BAD_INPUT if ended else EXIT_OK


def create_command(args: argparse.Namespace, open_api) -> int:
    print(f"queue {open_api().queues.create(args.name)}")
    return EXIT_OK


def delete_command(args: argparse.Namespace, open_api) -> int:
    open_api().queues.delete(args.name)
    print(f"deleted queue {args.name}")
    return EXIT_OK


def queues_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    queues, agents = api.queues(), api.queues.agents()
    if args.json:
        print(json.dumps({"queues": [public(q) for q in queues], "agents": [public(a) for a in agents]}, indent=2))
        return EXIT_OK
    print(table(("QUEUE", *(state.upper() for state in ItemState)),
                [(q.name, *(q.counts[state] for state in ItemState)) for q in queues]))
    live = [a for a in agents if not a.state.is_terminal()]
    if live:
        print()
        print(table(("AGENT", "STATE", "QUEUES", "MAX JOBS", "ACTIVE", "STARTED"),
                    [(a.id, a.state, ",".join(a.queues), a.max_jobs, a.active, when(a.started_at)) for a in live]))
    return EXIT_OK


def agent_command(args: argparse.Namespace, open_api) -> int:
    def say(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)

    agent = open_api().queues.agent(args.queues or ["default"], args.max_jobs, on_stop=args.on_stop,
                                    poll_seconds=args.poll, on_event=say)
    interrupts = 0

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            running = len(agent.active_runs())
            what = "stopping" if agent.on_stop == "stop" else "waiting for"
            say(f"no more items will be taken; {what} {running} run(s)"
                + (" (Ctrl-C again to stop them)" if agent.on_stop == "wait" and running else ""))
            agent.stop()
        else:
            say("stopping the agent's runs")
            agent.stop("stop")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # The loop runs in a thread so that the signal handler (main thread) never interrupts it.
        agent.start()
        while not agent.join(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if agent.error is not None:
        raise agent.error
    say(f"agent stopped: {agent.launched} run(s) launched, {agent.failed_launches} item(s) failed to launch")
    return EXIT_OK


def item_json(record: ItemRecord) -> dict[str, Any]:
    data = public(record)
    data.pop("reserved_run_id", None)
    return data


def _sweep_id(api, value: str | None) -> str | None:
    return None if value is None else api.sweeps.get(value).id


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[:width - 3] + "..."
