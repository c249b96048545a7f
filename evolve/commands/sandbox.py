"""`evolve sandbox build | doctor | clean`: the Docker sandbox image and the engine it needs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluators.devices import model_task_devices

from ..executors.docker_image import (DEFAULT_BASE, DEFAULT_WHEELHOUSE, BuildError, build_image, doctor, image_tag,
                             remove_superseded_images)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add `sandbox {build,doctor,clean}` to an argparse subparsers object."""
    parser = subparsers.add_parser("sandbox", help="build and check the Docker sandbox")
    parser.set_defaults(handler=run)
    commands = parser.add_subparsers(dest="sandbox_command", required=True)
    build = commands.add_parser("build", help="build the sandbox image for this checkout")
    build.add_argument("--base", default=DEFAULT_BASE, help=f"base image with python3.11 (default {DEFAULT_BASE})")
    build.add_argument("--tag", default=None, help="image tag (default: the tag the backend looks for)")
    build.add_argument("--wheelhouse", type=Path, default=DEFAULT_WHEELHOUSE,
                       help="directory of wheels to build from (filled from the package index when incomplete)")
    build.add_argument("--python-version", default="3.11", help="the base image's Python version")
    build.add_argument("--worker-package", action="append", default=[], help="extra scorer-side requirement")
    build.add_argument("--jail-package", action="append", default=[], help="extra requirement candidates may import")
    build.add_argument("--if-absent", action="store_true", help="do nothing when the image already exists")
    doctor = commands.add_parser("doctor", help="say what the Docker sandbox is missing, one line each "
                                                "(--executor ray: a Ray cluster's nodes, resources and sandboxes)")
    doctor.add_argument("--executor", choices=("local", "ray"), default="local")
    doctor.add_argument("--ray-address", metavar="HOST:PORT", help="the cluster (default: RAY_ADDRESS, else "
                                                                   "this machine's)")
    clean = commands.add_parser("clean", help="remove sandbox containers left by dead controllers")
    clean.add_argument("--all", action="store_true", help="remove every sandbox container, in use or not")
    clean.add_argument("--images", action="store_true",
                       help="also remove sandbox images built from other versions of the code")
    return parser


def run(args) -> int:
    from sandbox import DockerUnavailable, connect, remove_containers, sandbox_containers

    try:
        if args.sandbox_command == "build":
            if args.if_absent:
                client = connect()
                tag = args.tag or image_tag()
                if any(tag in image.tags for image in client.images.list(name=tag.split(":")[0])):
                    print(f"{tag} already present")
                    return 0
            build_image(base=args.base, tag=args.tag, wheelhouse=args.wheelhouse, python_version=args.python_version,
                        extra_worker=tuple(args.worker_package), extra_jail=tuple(args.jail_package))
            return 0
        if args.sandbox_command == "doctor" and getattr(args, "executor", "local") == "ray":
            from ..executors.ray_doctor import print_report
            return print_report(args.ray_address)
        if args.sandbox_command == "doctor":
            problems = doctor()
            for line in problems:
                print(line)
            blocking = [p for p in problems if not p.startswith("no GPU")]
            if not problems:
                print(f"docker sandbox ready: {image_tag()}")
            if blocking:  # what is wrong, one line each; nothing else
                return 1
            for line in model_task_devices():  # informational: where each model-backed task runs its model
                print(line)
            return 0
        if args.sandbox_command == "clean":
            client = connect()
            removed = remove_containers(sandbox_containers(client, all_owners=args.all))
            print(f"removed {removed} sandbox container(s)")
            if args.images:
                images = remove_superseded_images(client, keep=image_tag())
                print(f"removed {len(images)} superseded sandbox image(s)")
            return 0
    except (DockerUnavailable, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    raise ValueError(f"unknown sandbox command {args.sandbox_command!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evolve.commands.sandbox")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["sandbox", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    sys.exit(main())
