"""`python -m harness view`: the read-only web viewer of a store (harness/viewer), served on
loopback unless told otherwise."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from harness.cli.errors import UserError, eprint
from harness.store import DEFAULT_DB

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def register(commands: argparse._SubParsersAction) -> None:
    view = commands.add_parser("view", help="browse the store's runs in a web browser (read-only)")
    add_arguments(view)
    view.set_defaults(handler=command_view)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB}); opened read-only",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument(
        "--allow-remote", action="store_true",
        help="let --host be an address other machines reach: anyone who can connect reads "
        "every patch, log and trajectory of the store",
    )
    parser.add_argument("--warm", type=int, default=3, metavar="N",
                        help="compute the figures of the N newest runs at start (default 3)")


def command_view(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        raise UserError(
            f"--host {args.host} is not a loopback address: other machines could read the "
            "store; add --allow-remote to mean it, or leave --host at 127.0.0.1"
        )
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number (0 to 65535)")
    if "://" not in args.db and not Path(args.db).is_file():
        raise UserError(f"no results store at {args.db}; run `python -m harness run` first or "
                        "pass --db")
    try:
        import uvicorn

        from harness.viewer.app import create_app
    except ImportError as error:
        raise UserError(f"the viewer needs its extra ({error}): pip install -e '.[view]'") from None
    from harness.store import Store

    store = Store(args.db, read_only=True)
    try:
        app = create_app(store, warm=args.warm,
                         allowed_hosts=["*"] if args.allow_remote else None)
        port = args.port or _free_port(args.host)
        config = uvicorn.Config(app, host=args.host, port=port, log_level="warning")
        eprint(f"harness view of {args.db} (read-only): http://{_shown(args.host)}:{port}/  "
               "(Ctrl-C stops)")
        uvicorn.Server(config).run()
    finally:
        store.close()
    return 0


def _free_port(host: str) -> int:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host.strip("[]"), 0))
        return probe.getsockname()[1]


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
