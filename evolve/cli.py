"""The `evolve` command line. Bad input: one line on stderr naming what is wrong, exit code 2."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from . import __version__, startup_gc
from .errors import UserError

COMMAND_MODULES = [
    "evolve.commands.tasks",
    "evolve.commands.run",
    "evolve.commands.inspect",
    "evolve.commands.evaluate",
    "evolve.commands.config",
    "evolve.commands.front",
]
# Subcommands owned by optional parts of the project; each module exposes add_parser(subparsers).
OPTIONAL_COMMAND_MODULES = ["evolve.commands.export", "evolve.commands.tui", "evolve.commands.sandbox"]
# The module that adds each subcommand. `evolve run ...` then imports only its own module (the others
# bring rich tables, syntax highlighting, the TUI...); help and unknown commands load them all.
# tests/commands/test_cli_startup.py checks this table against the parser the modules build.
COMMAND_OWNERS = {"tasks": "evolve.commands.tasks", "run": "evolve.commands.run", "resume": "evolve.commands.run",
                  "status": "evolve.commands.inspect", "best": "evolve.commands.inspect",
                  "archive": "evolve.commands.inspect", "eval": "evolve.commands.evaluate",
                  "front": "evolve.commands.front",
                  "export": "evolve.commands.export", "tui": "evolve.commands.tui",
                  "sandbox": "evolve.commands.sandbox", "config": "evolve.commands.config"}


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message; we print one line
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with `command` (a subcommand name), only the module that adds it is imported."""
    owner = COMMAND_OWNERS.get(command) if command else None
    parser = OneLineParser(prog="evolve", description="Evolve systems and decoding policies with LLMs or offline.")
    parser.add_argument("--version", action="version", version=f"evolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser, required=True)
    for name in COMMAND_MODULES + OPTIONAL_COMMAND_MODULES:
        if owner is not None and name != owner:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name not in OPTIONAL_COMMAND_MODULES or exc.name != name:
                raise
            continue
        module.add_parser(sub)
    if owner is not None and command not in sub.choices:  # its optional module is not there: list what is
        return build_parser()
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand argv names (its first word, when no option comes before it)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _terminated(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the archives are closed whole on the way out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    startup_gc.pause()  # until the command is under way (commands that start campaigns say when: startup_gc.py)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(argv)
    finally:
        startup_gc.resume()
        if "archive" in sys.modules:  # every archive the command opened is left whole in its file
            sys.modules["archive"].close_all()


def _hint(exc: Exception) -> str | None:
    """What the user can do about an archive error: the archive names the problem, the CLI the commands."""
    from archive.errors import CampaignNameTaken, NoCampaigns, NoSuchCampaign

    hints = {CampaignNameTaken: "pick another --name or resume it", NoSuchCampaign: "`evolve status` lists campaigns",
             NoCampaigns: "start one with `evolve run TASK`"}
    return next((text for kind, text in hints.items() if isinstance(exc, kind)), None)


def _main(argv: list[str]) -> int:
    from sqlalchemy.exc import DatabaseError

    from archive import ArchiveError
    from archive.sqlite_file import describe_sqlite_error, display_name
    from evaluators.task import TaskError
    from sandbox import SandboxUnavailable

    args = build_parser(_command(argv)).parse_args(argv)
    if not getattr(args, "startup_gc_paused", False):
        startup_gc.resume()
    try:
        return int(args.handler(args) or 0)
    except (UserError, TaskError, ArchiveError, SandboxUnavailable) as exc:
        hint = _hint(exc)
        print(f"evolve: error: {exc}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 2
    except DatabaseError as exc:  # damage found past the opening checks, e.g. in a page only a query reads
        db = display_name(args.db) if getattr(args, "db", None) else "the archive"
        print(f"evolve: error: {describe_sqlite_error(db, exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
