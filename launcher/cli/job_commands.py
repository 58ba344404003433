"""`launcher job create|list|describe|alias`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from launcher.cli.main import EXIT_OK
from launcher.cli.output import table, when


def register(subparsers) -> None:
    job = subparsers.add_parser("job", help="create and inspect jobs")
    commands = job.add_subparsers(title="job commands", metavar="COMMAND")
    job.set_defaults(handler=lambda args, open_api: (job.print_help(), EXIT_OK)[1])

    from launcher.jobs import sources

    kinds = sources.source_kinds()
    create = commands.add_parser("create", help="create a job (or a new version of it) from a source")
    create.add_argument("kind", choices=kinds, help="kind of source")
    create.add_argument("source", help="; ".join(f"{kind}: {sources.get_source(kind).given_as}" for kind in kinds))
    create.add_argument("--entity")
    create.add_argument("--project")
    create.add_argument("--name", help="job name (default: from the source)")
    create.add_argument("-e", "--entry-point", help="entry point command line (split into argv, never run "
                        "through a shell), or an MLproject entry point name")
    create.add_argument("--version", help="default git ref for git jobs (default: the remote's HEAD branch)")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=create_command)

    listing = commands.add_parser("list", help="list jobs (latest versions)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    describe = commands.add_parser("describe", help="show a job version")
    describe.add_argument("ref", help="entity/project/name:alias")
    describe.set_defaults(handler=describe_command)

    alias = commands.add_parser("alias", help="point an alias at a job version")
    alias.add_argument("ref")
    alias.add_argument("alias")
    alias.set_defaults(handler=alias_command)

    unalias = commands.add_parser("unalias", help="remove an alias of a job")
    unalias.add_argument("ref", help="the job: entity/project/name")
    unalias.add_argument("alias")
    unalias.set_defaults(handler=unalias_command)

    versions = commands.add_parser("versions", help="list a job's versions with their aliases and sources")
    versions.add_argument("ref", help="the job: entity/project/name")
    versions.set_defaults(handler=versions_command)

    refresh = commands.add_parser("refresh", help="snapshot a code job's edited folder as a new version")
    refresh.add_argument("ref", help="the job: entity/project/name")
    refresh.set_defaults(handler=refresh_command)


def create_command(args: argparse.Namespace, open_api) -> int:
    from launcher.cli.config_input import split_command

    entry_point = split_command(args.entry_point, "--entry-point") if args.entry_point is not None else None
    version = open_api().create_job(args.kind, args.source, entity=args.entity, project=args.project,
                                    name=args.name, entry_point=entry_point, ref=args.version)
    for note in version.notes:  # what the source policy skipped (special files)
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(version.describe(), indent=2) if args.json else f"{version.ref}  ({', '.join(version.aliases)})")
    return EXIT_OK


def list_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    jobs = api.list_jobs()
    if args.json:
        print(json.dumps([j.describe() for j in jobs], indent=2))
        return EXIT_OK
    rows = [(j.base, j.kind, f"v{j.version}", ", ".join(j.aliases), _entry(j), api.jobs.source_summary(j), when(j.created_at))
            for j in jobs]
    print(table(("JOB", "KIND", "LATEST", "ALIASES", "ENTRY POINT", "SOURCE", "CREATED"), rows))
    return EXIT_OK


def describe_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    version = api.job(args.ref)
    print(json.dumps({**version.describe(), "source_summary": api.jobs.source_summary(version)}, indent=2))
    return EXIT_OK


def alias_command(args: argparse.Namespace, open_api) -> int:
    version = open_api().alias_job(args.ref, args.alias)
    print(f"{version.base}:{args.alias} -> v{version.version}")
    return EXIT_OK


def _entry(job) -> str:
    if job.entry_point:
        return shlex.join(job.entry_point)
    if job.entry_points:
        return "MLproject: " + ", ".join(sorted(job.entry_points))
    return "(image command)"


def unalias_command(args: argparse.Namespace, open_api) -> int:
    version = open_api().jobs.unalias(args.ref, args.alias)
    print(f"{version.base}:{args.alias} removed (it pointed at v{version.version})")
    return EXIT_OK


def versions_command(args: argparse.Namespace, open_api) -> int:
    api = open_api()
    rows = [(f"v{v.version}", ", ".join(v.aliases), api.jobs.source_summary(v), _entry(v), when(v.created_at))
            for v in api.jobs.versions(args.ref)]
    print(table(("VERSION", "ALIASES", "SOURCE", "ENTRY POINT", "CREATED"), rows))
    return EXIT_OK


def refresh_command(args: argparse.Namespace, open_api) -> int:
    version, note = open_api().jobs.refresh(args.ref)
    print(note or f"{version.ref} is up to date with its source")
    return EXIT_OK
