"""`python -m harness sandbox prune`: remove the containers and images the harness made."""

from __future__ import annotations

import argparse

from harness.cli.errors import UserError


def register(commands: argparse._SubParsersAction) -> None:
    sandbox = commands.add_parser("sandbox", help="manage sandboxes and images")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    prune = sandbox_commands.add_parser(
        "prune", help="remove every container and image the harness made"
    )
    prune.add_argument("--keep-images", action="store_true", help="remove containers only")
    prune.add_argument(
        "--orphans", action="store_true",
        help="remove only sandboxes left by runs that died (safe while other runs go on)",
    )
    prune.set_defaults(handler=command_prune)


def command_prune(args: argparse.Namespace) -> int:
    import docker

    from harness.sandboxes.prune import prune

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        raise UserError(f"cannot reach the Docker daemon: {error}") from None
    result = prune(client, images=not (args.keep_images or args.orphans), orphans_only=args.orphans)
    print(result)
    return 0
