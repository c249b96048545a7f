"""`evolve tui`: the Textual interface, a live view on the archive."""
from __future__ import annotations

from .common import open_archive, add_db


def add_parser(sub) -> None:
    parser = sub.add_parser("tui", help="the terminal UI: launch, watch and browse campaigns")
    add_db(parser)
    parser.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                        help="how often to re-read the archive (default 1.0)")
    parser.set_defaults(handler=tui_command)


def tui_command(args) -> int:
    import os

    from ..errors import UserError
    from ..tui import EvolveApp

    if args.poll <= 0:
        raise UserError(f"--poll {args.poll}: must be a positive number of seconds")
    open_archive(args.db, must_exist=False).close()  # creates the schema for a new database
    EvolveApp(args.db, poll_interval=args.poll, cwd=os.getcwd()).run()
    return 0
