"""`launcher runs`, `logs`, `status`, `cancel`."""

from __future__ import annotations

import argparse
import json
import sys

from launcher.cli.main import EXIT_OK, EXIT_RUN_FAILED
from launcher.cli.output import duration, table, when


def register(subparsers) -> None:
    runs = subparsers.add_parser(
        "runs", help="list runs, newest first; delete, archive, tag them",
        description="List runs. --where takes the filter language: loss<0.1 lr=0.1 state:failed job:hello "
                    "tag:best and free text; --columns and --sort take run fields, config keys and metric "
                    "names (config.KEY or metric.NAME when both exist).")
    runs.add_argument("--json", action="store_true", help="print JSON records (with each metric's latest value)")
    runs.add_argument("--limit", type=int, default=50, help="at most this many runs (0: all)")
    runs.add_argument("--active", action="store_true", help="only starting, preparing and running runs")
    runs.add_argument("--archived", action="store_true", help="archived runs too")
    runs.add_argument("--columns", default="", help="extra columns, comma-separated: config keys, metrics, fields")
    runs.add_argument("--sort", help="sort on a column (runs without a value last)")
    runs.add_argument("--desc", action="store_true", help="sort in descending order")
    runs.add_argument("--where", default="", help="only runs matching this filter, e.g. 'loss<0.1 state:finished'")
    runs.set_defaults(handler=runs_command)
    actions = runs.add_subparsers(title="run commands", metavar="COMMAND")
    remove = actions.add_parser("rm", help="delete ended runs with everything kept for them (asks nothing: "
                                           "--dry-run shows what would go)")
    remove.add_argument("runs", nargs="+", help="run ids (or unambiguous prefixes)")
    remove.add_argument("--dry-run", action="store_true")
    remove.set_defaults(handler=remove_command)
    archive = actions.add_parser("archive", help="hide ended runs from listings (--undo shows them again)")
    archive.add_argument("runs", nargs="+")
    archive.add_argument("--undo", action="store_true")
    archive.set_defaults(handler=archive_command)
    tag = actions.add_parser("tag", help="add (or --remove) tags on a run")
    tag.add_argument("run")
    tag.add_argument("tags", nargs="+")
    tag.add_argument("--remove", action="store_true")
    tag.set_defaults(handler=tag_command)
    note = actions.add_parser("note", help="set a run's note ('' clears it)")
    note.add_argument("run")
    note.add_argument("text")
    note.set_defaults(handler=note_command)
    usage = actions.add_parser("du", help="disk use per run and in total")
    usage.set_defaults(handler=usage_command)

    gc = subparsers.add_parser("gc", help="delete ended runs older than an age (e.g. --older-than 30d)")
    gc.add_argument("--older-than", required=True, help="age: 30d, 12h, 90m or seconds")
    gc.add_argument("--keep-failed", action="store_true", help="keep failed runs whatever their age")
    gc.add_argument("--dry-run", action="store_true")
    gc.set_defaults(handler=gc_command)

    logs = subparsers.add_parser("logs", help="print a run's output")
    logs.add_argument("run", help="run id (or an unambiguous prefix)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    logs.add_argument("-t", "--timestamps", action="store_true", help="prefix each line with its arrival time")
    logs.set_defaults(handler=logs_command)

    status = subparsers.add_parser("status", help="show a run's state and details")
    status.add_argument("run")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=status_command)

    cancel = subparsers.add_parser("cancel", help="stop a run (SIGTERM, grace period, SIGKILL)")
    cancel.add_argument("run")
    cancel.add_argument("--grace", type=_grace, help="seconds between SIGTERM and SIGKILL (0 to 86400)")
    cancel.set_defaults(handler=cancel_command)


def runs_command(args: argparse.Namespace, open_api) -> int:
    from launcher.errors import SpecError
    from launcher.runfilter import parse_filter
    from launcher.runtable import cells, resolve_column, sort_rows

    if args.limit < 0:
        raise SpecError(f"--limit {args.limit} is not valid; expected a number of runs >= 0 (0: all)")
    run_filter = parse_filter(args.where)  # a bad filter is refused before the workspace is opened
    api = open_api()
    ranked = bool(args.where or args.sort)  # filtering or sorting looks at every run, then limits
    records = api.runs(limit=None if ranked else args.limit or None, active_only=args.active,
                       include_archived=args.archived)
    rows = run_filter.apply(api.runs.table_rows(records))
    if args.sort:
        rows = sort_rows(rows, resolve_column(args.sort, rows), descending=args.desc)
    if args.limit:
        rows = rows[:args.limit]
    if args.json:
        print(json.dumps([{**row.record.public(), "metrics": dict(row.metrics)} for row in rows], indent=2))
        return EXIT_OK
    extra = [resolve_column(name, rows) for name in args.columns.split(",") if name.strip()]
    values = cells(rows, extra)
    lines = [(r.id, r.name, r.job, r.resource, r.state, when(r.started_at or r.created_at),
              duration(r.started_at, r.ended_at), "" if r.exit_code is None else r.exit_code, *shown)
             for r, shown in zip((row.record for row in rows), values, strict=True)]
    print(table(("ID", "NAME", "JOB", "RESOURCE", "STATE", "STARTED", "DURATION", "EXIT",
                 *(column.label for column in extra)), lines))
    return EXIT_OK


def logs_command(args: argparse.Namespace, open_api) -> int:
    from launcher.cli.launch_commands import follow_output

    run = open_api().find_run(args.run)
    if args.follow:
        follow_output(run, timestamps=args.timestamps)
        return EXIT_RUN_FAILED if run.get_status().state.is_failure() else EXIT_OK
    out = sys.stdout.buffer
    for line in run.log_lines():
        prefix = (line.timestamp + " ").encode() if args.timestamps else b""
        if line.stream == "launcher":
            prefix += b"[launcher] "
        elif line.stream == "stderr" and args.timestamps:
            prefix += b"[stderr] "
        out.write(prefix + line.data + (b"\n" if line.newline else b""))
    return EXIT_OK


def status_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    run = api.find_run(args.run)
    status = run.record
    record = status.public()
    record["events"] = [{"state": str(e.state), "at": e.at, "message": e.message} for e in run.events()]
    problems = api.runs.metric_problems(run.id)
    record["metric_problems"] = [{"source": str(p.source), "problem": p.text} for p in problems]
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        spec = record["spec"]
        lines = [
            f"run        {record['id']}  ({record['name']})",
            f"state      {record['state']}" + (f"  {record['message']}" if record["message"] else ""),
            f"exit code  {'-' if record['exit_code'] is None else record['exit_code']}",
            f"job        {record['job']}" + (f"  @ {spec['source'].get('commit', '')[:12]}" if spec["source"].get("commit") else ""),
            f"resource   {record['resource']}  {json.dumps(spec['resource_args'], ensure_ascii=False) if spec['resource_args'] else ''}",
            f"argv       {json.dumps(spec['argv'], ensure_ascii=False)}",
            f"config     {json.dumps(spec['run_config'], ensure_ascii=False)}",
            f"project    {record['entity']}/{record['project']}",
            f"created    {when(record['created_at'])}",
            f"started    {when(record['started_at'])}",
            f"ended      {when(record['ended_at'])}   ({duration(record['started_at'], record['ended_at'])})",
        ]
        lines += [f"metrics    {problem.source}: {problem.text}" for problem in problems]
        print("\n".join(lines))
    return EXIT_RUN_FAILED if status.state.is_failure() else EXIT_OK


def cancel_command(args: argparse.Namespace, open_api) -> int:
    run = open_api().find_run(args.run)
    status = run.cancel(grace_period=args.grace)
    print(f"run {run.id} {status.state}")
    return EXIT_OK


def _grace(text: str) -> float:
    from launcher.errors import SpecError
    from launcher.options import check_grace_period

    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"--grace {text!r} is not valid; expected a number of seconds from 0 to 86400") from None
    return check_grace_period(value, "--grace")


def _report(report, verb: str) -> int:
    from launcher.cli.output import size

    for run_id in report.done:
        freed = f" ({size(report.sizes[run_id])})" if run_id in report.sizes else ""
        print(f"{'would be ' if report.dry_run else ''}{verb} {run_id}{freed}")
    for refusal in report.refused:
        print(f"not {verb}: {refusal.reason}", file=sys.stderr)
    if report.sizes:
        print(f"{'would free' if report.dry_run else 'freed'} {size(report.freed)}")
    return EXIT_RUN_FAILED if report.refused else EXIT_OK


def _ids(api, values: list[str]) -> list[str]:
    return [api.find_run(value).id for value in values]  # every one checked before anything changes


def remove_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    return _report(api.runs.delete(_ids(api, args.runs), dry_run=args.dry_run), "deleted")


def archive_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    return _report(api.runs.archive(_ids(api, args.runs), archived=not args.undo),
                   "unarchived" if args.undo else "archived")


def tag_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    run_id = api.find_run(args.run).id
    record = api.runs.tag(run_id, remove=args.tags) if args.remove else api.runs.tag(run_id, add=args.tags)
    print(f"run {record.id} tags: {', '.join(record.tags) or '-'}")
    return EXIT_OK


def note_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    record = api.runs.note(api.find_run(args.run).id, args.text or None)
    print(f"run {record.id} note: {record.note or '-'}")
    return EXIT_OK


def usage_command(args: argparse.Namespace, open_api) -> int:
    from launcher.cli.output import size

    usage = open_api().runs.disk_usage()
    rows = sorted(usage.items(), key=lambda item: -item[1])
    print(table(("RUN", "SIZE"), [(run_id, size(bytes_)) for run_id, bytes_ in rows]))
    print(f"total {size(sum(usage.values()))} in {len(usage)} run folder(s)")
    return EXIT_OK


def gc_command(args: argparse.Namespace, open_api) -> int:
    from launcher.cleanup import parse_age

    age = parse_age(args.older_than)  # before opening anything: a bad value is the whole answer
    report = open_api().runs.collect_garbage(older_than=age, keep_failed=args.keep_failed, dry_run=args.dry_run)
    if not report.done and not report.refused:
        print(f"no ended run is older than {args.older_than}")
    return _report(report, "deleted")
