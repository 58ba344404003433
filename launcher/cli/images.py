"""`launcher images base`: check or build the base image that generated Dockerfiles start from."""

from __future__ import annotations

import argparse
import sys
import time

from launcher.cli.main import EXIT_OK, EXIT_RUN_FAILED


def register(subparsers) -> None:
    images = subparsers.add_parser("images", help="images for container runs")
    commands = images.add_subparsers(title="images commands", metavar="COMMAND")
    images.set_defaults(handler=lambda args, open_api: (images.print_help(), EXIT_OK)[1])

    base = commands.add_parser(
        "base", help="build the base image locally from Debian packages (debootstrap), unless it exists",
        description="The base image of generated Dockerfiles, built from Debian packages with debootstrap "
                    "and imported into the Docker engine; no registry is needed. Without options it builds "
                    "the image only when the engine does not have it.")
    base.add_argument("--tag", help="image tag (default: the workspace's base_image setting, "
                                    "$LAUNCHER_BASE_IMAGE, or launcher-base:bookworm)")
    base.add_argument("--check", action="store_true", help="only say whether it exists (exit code 1 if not)")
    base.add_argument("--rebuild", action="store_true", help="build it even when it exists")
    base.add_argument("--mirror", help="Debian mirror for debootstrap (default: $DEBIAN_MIRROR, else the host's apt "
                                       "mirror, else deb.debian.org; the same recipe as scripts/docker-up)")
    base.set_defaults(handler=base_command)


def base_command(args: argparse.Namespace, open_api) -> int:
    from launcher.containers.engine import Engine
    from launcher.images import base_image

    tag = args.tag or _configured_tag(open_api)
    engine = Engine()
    engine.ping(timeout=2)
    present = base_image.describe(engine, tag)
    if present is not None and not args.rebuild:
        print(f"{tag}: present ({present['id'][7:19]}, {present['size'] / 1e6:.0f} MB)")
        return EXIT_OK
    if args.check:
        print(f"{tag}: missing; build it with: launcher images base", file=sys.stderr)
        return EXIT_RUN_FAILED
    began = time.monotonic()
    built = base_image.build(engine, tag, mirror=args.mirror, progress=lambda line: print(line, flush=True))
    print(f"{tag}: built in {time.monotonic() - began:.0f}s ({built['id'][7:19]}, {built['size'] / 1e6:.0f} MB)")
    return EXIT_OK


def _configured_tag(open_api) -> str:
    import os

    from launcher.runners.local_container import BASE_IMAGE_ENV, BASE_IMAGE_SETTING, DEFAULT_BASE_IMAGE

    api = open_api()
    try:
        return os.environ.get(BASE_IMAGE_ENV) or api.get_setting(BASE_IMAGE_SETTING) or DEFAULT_BASE_IMAGE
    finally:
        api.close()
