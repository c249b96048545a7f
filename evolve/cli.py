"""The `evolve` command line. Bad input: one line on stderr naming what is wrong, exit code 2."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

COMMAND_MODULES = [
    "evolve.commands.tasks",
    "evolve.commands.run",
    "evolve.commands.inspect",
    "evolve.commands.evaluate",
]
# Subcommands owned by optional parts of the project; each module exposes add_parser(subparsers).
OPTIONAL_COMMAND_MODULES = ["evolve.commands.export", "evolve.commands.tui", "evolve.commands.sandbox"]


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message; we print one line
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evolve", description="Evolve systems and decoding policies with LLMs or offline.")
    parser.add_argument("--version", action="version", version=f"evolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser, required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import DatabaseError

    from archive import ArchiveError
    from archive.sqlite_file import describe_sqlite_error, display_name
    from evaluators.task import TaskError
    from sandbox.failures import SandboxUnavailable

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, TaskError, ArchiveError, SandboxUnavailable) as exc:
        print(f"evolve: error: {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:  # damage found past the opening checks, e.g. in a page only a query reads
        db = display_name(args.db) if getattr(args, "db", None) else "the archive"
        print(f"evolve: error: {describe_sqlite_error(db, exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
