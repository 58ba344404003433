"""`launcher doctor [--rebuild]` and `launcher resources`."""

from __future__ import annotations

import argparse
from pathlib import Path

from launcher.cli.main import EXIT_OK, EXIT_RUN_FAILED


def register(subparsers) -> None:
    doctor = subparsers.add_parser(
        "doctor", help="check the workspace (database integrity, run folders, disk) and say what to do",
        description="Checks the workspace without changing it. With --rebuild, moves a damaged database aside "
                    "and lists every run again from its run folder (jobs, queues, sweeps and settings live only "
                    "in the database and are not brought back).")
    doctor.add_argument("--rebuild", action="store_true", help="rebuild the run index from the run folders")
    doctor.set_defaults(handler=doctor_command)

    resources = subparsers.add_parser("resources", help="which resources can be used here, and why not")
    resources.set_defaults(handler=resources_command)


def doctor_command(args: argparse.Namespace, open_api) -> int:
    from launcher.doctor import examine, rebuild
    from launcher.workspace import default_home

    home = Path(args.home).expanduser() if args.home else default_home()
    if args.rebuild:
        result = rebuild(home)
        print(f"rebuilt the run index of {home}: {result.runs} run(s) listed again from their folders")
        if result.lost_jobs:
            print(f"the old database is kept as {result.moved_to}; jobs, queues, sweeps and settings were not "
                  "brought back (create jobs again with 'launcher job create')")
        return EXIT_OK
    report = examine(home)
    for finding in report.findings:
        print(f"{'ok' if finding.ok else 'PROBLEM'}  {finding.text}")
    return EXIT_OK if report.healthy else EXIT_RUN_FAILED


def resources_command(args: argparse.Namespace, open_api) -> int:
    from launcher.cli.output import table

    rows = [(r.name, "yes" if r.available else "no", r.reason or r.notes or "") for r in open_api().resources()]
    print(table(("RESOURCE", "AVAILABLE", "NOTES"), rows))
    return EXIT_OK
