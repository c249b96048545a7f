"""Checks on an archive's SQLite file before it is opened, and one-line messages for SQLite errors.

Every check here reads without writing: a path that fails one is left exactly as it was (no new
file, directory, -wal/-shm or lock file), so a typo in --db never leaves debris behind.
"""
from __future__ import annotations

import os
import sqlite3
import struct

from .errors import ArchiveUnusable
from .urls import display_name  # noqa: F401  (messages name archives through it)

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100


def recover_hint(path: str) -> str:
    stem = os.path.splitext(path)[0]
    return (f"recover what is readable with `sqlite3 {path} .recover | sqlite3 {stem}-recovered.db` "
            f"and pass --db {stem}-recovered.db")


def check_archive_path(path: str, known_revisions: set[str], require_campaigns: bool = False) -> None:
    """Raise ArchiveUnusable unless `path` is an evolve archive or a place one can be created
    (`require_campaigns`: unless it is an evolve archive with its campaigns table)."""
    if os.path.isdir(path):
        raise ArchiveUnusable(f"{path} is a directory, not an archive file; pass a file path such as "
                               f"{os.path.join(path, 'evolve.db')}")
    if not os.path.lexists(path):
        _check_creatable(path)
        return
    if _open_in_this_process(path):
        return  # it was checked when first opened; and see _open_in_this_process
    try:
        with open(path, "rb") as handle:
            header = handle.read(HEADER_SIZE)
        size = os.path.getsize(path)
    except OSError as exc:
        raise ArchiveUnusable(f"cannot read archive {path}: {exc.strerror or exc}") from None
    if not header:
        if require_campaigns:
            raise ArchiveUnusable(_no_campaigns(path))
        return  # an empty file is an empty database: the schema is created in it
    if not header.startswith(SQLITE_MAGIC):
        raise ArchiveUnusable(f"{path} is not an SQLite database (its first bytes are not an SQLite header); "
                               f"pass the path of an evolve archive, or a new file name, with --db")
    # A checkpoint writes page 1 (the new size) before the pages that extend the file, so the size
    # test is only sound when no -wal exists: then no process has the database open in WAL mode.
    settled = not os.path.exists(path + "-wal")
    if len(header) < HEADER_SIZE or (settled and size < _declared_size(header)):
        declared = f"{_declared_size(header)} bytes" if len(header) == HEADER_SIZE else "more"
        raise ArchiveUnusable(f"archive {path} is truncated ({size} bytes, its header declares {declared}); "
                               + recover_hint(path))
    _check_is_evolve_archive(path, known_revisions, require_campaigns)


def _no_campaigns(path: str) -> str:
    wal = os.path.exists(path + "-wal")
    return (f"{path} holds no evolve archive (no campaigns table: an empty database" +
            ("" if wal else ", or a copy of an archive made without its -wal file while a campaign wrote it") +
            f"); pass an archive with --db, or start a campaign in it with `evolve run TASK --db {path}`")


def _open_in_this_process(path: str) -> bool:
    """Whether this process already has the file open (through SQLite, say).

    Closing any descriptor on a file drops every POSIX lock the process holds on it, SQLite's
    included, which can corrupt the database; so the raw header read is skipped then. Without
    /proc to tell, assume it is open.
    """
    target = os.path.realpath(path)
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return True
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return True
        except OSError:
            pass
    return False


def _declared_size(header: bytes) -> int:
    """Pages x page size from the header; 0 when the header's page count is not trustworthy."""
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = struct.unpack(">I", header[24:28]) + struct.unpack(">I", header[28:32]) \
        + struct.unpack(">I", header[92:96])
    return pages * page_size if pages and valid_for == change_counter else 0


def _check_creatable(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        what = "is not a directory" if os.path.lexists(parent) else "does not exist"
        raise ArchiveUnusable(f"cannot create archive {path}: {parent} {what}; create the directory first "
                               f"or pass another --db")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArchiveUnusable(f"cannot create archive {path}: no write permission in {parent}; pass another --db")


def _check_is_evolve_archive(path: str, known_revisions: set[str], require_campaigns: bool) -> None:
    """Refuse a database that belongs to something else, or to a newer evolve, before any write.

    A plain read-write connection without pragmas: it writes nothing, and SQLite removes any
    -wal/-shm it opened when it closes as the last connection (a read-only one would leave them).
    """
    try:
        connection = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as exc:
        raise ArchiveUnusable(describe_sqlite_error(path, exc)) from None
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revisions = ({row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
                     if "alembic_version" in tables else set())
    except sqlite3.Error as exc:
        raise ArchiveUnusable(describe_sqlite_error(path, exc)) from None
    finally:
        connection.close()
    if tables and "alembic_version" not in tables:
        shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        raise ArchiveUnusable(f"{path} is an SQLite database but not an evolve archive (tables: {shown}); "
                               f"pass an evolve archive, or a new file name, with --db")
    if require_campaigns and "campaigns" not in tables:
        raise ArchiveUnusable(_no_campaigns(path))
    unknown = revisions - known_revisions
    if unknown:
        raise ArchiveUnusable(f"archive {path} has schema revision {', '.join(sorted(unknown))}, which this "
                               f"evolve does not know; it was written by a newer evolve: upgrade evolve to open it")


def describe_sqlite_error(path: str, exc: BaseException) -> str:
    """One line for a database error on the archive at `path` (a sqlite3 or SQLAlchemy exception)."""
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original.args[0] if getattr(original, "args", None) else original).split())  # one line
    lowered = text.lower()
    if "malformed" in lowered or "corrupt" in lowered:
        return f"archive {path} is damaged ({text}); " + recover_hint(path)
    if "not a database" in lowered:
        return (f"{path} is not an SQLite database or its header is damaged ({text}); if it was an evolve "
                f"archive, " + recover_hint(path))
    if "locked" in lowered or "busy" in lowered:
        return f"archive {path} stayed locked by another process for 30 s ({text}); retry when it is done"
    if "readonly" in lowered or "read-only" in lowered:
        return f"archive {path} is read-only ({text}); make it writable or copy it elsewhere"
    if "unable to open" in lowered:
        return f"cannot open archive {path} ({text}); check the path and its permissions"
    if "disk" in lowered and "full" in lowered:
        return f"archive {path}: the disk is full ({text}); free space and retry"
    return f"archive {path}: {text}"
