"""Helpers shared by CLI commands: output, database option, task resolution."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

DEFAULT_DB = "evolve.db"
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, metavar="PATH|URL",
                        help=f"archive database: a SQLite file path or a SQLAlchemy URL (default: ./{DEFAULT_DB})")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def open_archive(db: str, must_exist: bool = True):
    """The archive at `db` (imported on use: building the parser stays light)."""
    from ..campaign import open_archive as open_
    return open_(db, must_exist)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)
