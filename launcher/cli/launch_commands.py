"""`launcher launch`: every launch() parameter as a flag, plus presets and --async."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from launcher.cli.main import EXIT_OK, EXIT_RUN_FAILED
from launcher.states import RunState


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "launch", help="launch a run", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Launch a job, an entry point or a docker image. Runs started here outlive this command; "
                    "Ctrl-C while following a synchronous run stops it.",
        epilog="example: launcher launch -j demo -c '{\"overrides\": {\"run_config\": {\"lr\": 0.1}}}'\n"
               "         launcher launch -j demo -- python train.py --epochs 3\n\n" + resource_args_help())
    add_launch_arguments(parser)
    parser.add_argument("--preset", help="start from a saved preset (flags given here win; -c and -R are merged "
                                         "into its config and resource args)")
    parser.add_argument("--async", dest="asynchronous", action="store_true", help="print the run id and return")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the run's output")
    parser.set_defaults(handler=launch_command)


def resource_args_help() -> str:
    """What -R takes for each resource, generated from the runners' declared options."""
    from launcher import runners

    lines = ["resource args (-R '{\"RESOURCE\": {\"KEY\": VALUE}}'):"]
    for name in runners.resource_names():
        try:
            options = runners.get_runner(name).options
        except ImportError:
            continue
        lines.append(f"  {name}:")
        lines += [f"    {option.describe()}" for option in options]
    return "\n".join(lines)


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a launch: launch() parameters, shared by `launch` and `queue add`."""
    parser.add_argument("-j", "--job", help="job reference: entity/project/name:alias")
    parser.add_argument("-e", "--entry-point", help="entry point: an MLproject entry point name, or a command "
                        "line split into argv like a shell would split it (never run through a shell)")
    parser.add_argument("command", nargs="*", help="entry point argv after '--' (alternative to -e)")
    parser.add_argument("--version", help="git ref (branch, tag or commit) for git jobs")
    parser.add_argument("-n", "--name", help="run name")
    parser.add_argument("-r", "--resource", help="resource: local-process, local-container, ray")
    parser.add_argument("-R", "--resource-args", help="resource args as JSON, keyed by resource name")
    parser.add_argument("-p", "--project")
    parser.add_argument("--entity")
    parser.add_argument("-d", "--docker-image", help="launch this image directly, without a job")
    parser.add_argument("-c", "--config", help="launch config (W&B launch format): a JSON/TOML file or text")
    parser.add_argument("--run-id", help="the run id (must not be in use when the run starts)")
    parser.add_argument("--repository", help="registry repository built images are pushed to")
    refresh = parser.add_mutually_exclusive_group()
    refresh.add_argument("--no-refresh", dest="refresh", action="store_const", const=False,
                         help="run a code job's latest snapshot even if its folder was edited since")
    refresh.add_argument("--refresh", dest="refresh", action="store_const", const=True,
                         help="refuse to launch a code job whose folder is gone (by default its snapshot runs)")


def launch_settings(args: argparse.Namespace) -> dict[str, Any]:
    """launch() keyword arguments from the flags that were given."""
    from launcher.cli.config_input import load_config, parse_json_mapping, split_command

    entry_point = list(args.command) or (split_command(args.entry_point, "--entry-point") if args.entry_point is not None else None)
    flags = {
        "job": args.job, "entry_point": entry_point, "version": args.version, "name": args.name,
        "resource": args.resource, "project": args.project, "entity": args.entity,
        "docker_image": args.docker_image, "run_id": args.run_id, "repository": args.repository,
        "resource_args": parse_json_mapping(args.resource_args, "--resource-args") if args.resource_args else None,
        "config": load_config(args.config) if args.config else None,
        "refresh": args.refresh,
    }
    return {k: v for k, v in flags.items() if v is not None}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`; mappings found in both (config, resource_args) are merged key by key, so
    `--preset P -c '{"overrides": {"run_config": {"lr": 0.1}}}'` changes lr and keeps the preset's other
    values."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def launch_command(args: argparse.Namespace, open_api) -> int:
    from launcher.spec import merge_request

    settings: dict[str, Any] = {}
    if args.preset:
        from launcher.presets import load_preset

        settings.update(load_preset(args.preset))
    settings = merged(settings, launch_settings(args))
    request = merge_request(**settings)
    api = open_api()
    from launcher.errors import LaunchError

    try:
        run = api.runs.submit(request)
    except LaunchError as error:
        if error.run_id is None:
            raise  # bad input: nothing was recorded
        # The run was recorded, then its resource refused to start it: name it, exit as a failed run.
        print(f"run {error.run_id} start_failed: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    for note in run.launch_notes:
        print(note, file=sys.stderr)
    print(f"run {run.id} ({run.spec.job_label} on {run.spec.resource})", file=sys.stderr)
    if args.asynchronous:
        print(run.id)
        return EXIT_OK
    try:
        follow_output(run, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"stopping run {run.id} ...", file=sys.stderr)
        run.cancel()
        raise
    status = run.get_status()
    detail = f": {status.message}" if status.message else ""
    print(f"run {run.id} {status.state}{detail}", file=sys.stderr)
    return EXIT_OK if status.state is RunState.FINISHED else EXIT_RUN_FAILED


def follow_output(run, *, quiet: bool = False, timestamps: bool = False) -> None:
    """Copy the run's output to this terminal as it is written (stderr lines to stderr)."""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for batch in run.follow_logs(batch=True):
        if quiet:
            continue
        for line in batch:
            target = err if line.stream != "stdout" else out
            prefix = (line.timestamp + " ").encode() if timestamps else b""
            if line.stream == "launcher":
                prefix += b"[launcher] "
            target.write(prefix + line.data + (b"\n" if line.newline else b""))
        out.flush()
        err.flush()
