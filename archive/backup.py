"""One self-contained SQLite file from an archive, to keep or to share.

A whole SQLite archive is copied with SQLite's online backup API (consistent while a campaign
writes it). Chosen campaigns, from either backend, are copied row by row into a fresh archive with
the same ids, so every program id named in events, edits and call logs still points at its program.
The copy is written beside its target under a temporary name and moved into place once complete:
a failed or interrupted backup leaves no file at the target. The result needs no -wal beside it.
"""
from __future__ import annotations

import dataclasses
import os
import sqlite3
from typing import Iterable

from sqlalchemy import select

from .errors import ArchiveError
from .schema import Base, CampaignRecord, Program

CHUNK = 1000  # rows per insert


@dataclasses.dataclass(frozen=True)
class BackupResult:
    path: str
    campaigns: list[str]
    bytes: int


def backup(archive, target: str, campaign_ids: Iterable[int] | None = None) -> BackupResult:
    """Write `archive` (or only `campaign_ids`) to the new SQLite file `target`.

    Without campaign ids a SQLite archive is copied whole, page by page; a PostgreSQL archive has
    each of its campaigns copied.
    """
    target = os.path.abspath(os.path.expanduser(target))
    _check_target(target)
    ids = None if campaign_ids is None else list(dict.fromkeys(campaign_ids))
    sqlite_source = archive.engine.dialect.name == "sqlite"
    if ids is None and not sqlite_source:
        ids = [c.id for c in archive.campaigns()]
    partial = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}.partial")
    try:
        if ids is None:
            _copy_file(archive, partial)
        else:
            _copy_campaigns(archive, ids, partial)
        _settle(partial)
        if os.path.lexists(target):  # created meanwhile by someone else: theirs stays
            raise ArchiveError(f"backup target {target} appeared while the backup ran; pass a new file name")
        os.replace(partial, target)
    finally:
        for leftover in (partial, partial + "-wal", partial + "-shm", partial + "-journal"):
            if os.path.lexists(leftover):
                os.remove(leftover)
    names = [c.name for c in archive.campaigns() if ids is None or c.id in ids]
    return BackupResult(target, names, os.path.getsize(target))


def _check_target(target: str) -> None:
    if os.path.lexists(target):
        raise ArchiveError(f"backup target {target} already exists; pass a new file name (a backup never "
                           f"overwrites a file)")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise ArchiveError(f"cannot write backup {target}: {parent} is not a directory; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArchiveError(f"cannot write backup {target}: no write permission in {parent}")


def _copy_file(archive, partial: str) -> None:
    destination = sqlite3.connect(partial)
    try:
        with archive.engine.connect() as connection:
            connection.connection.driver_connection.backup(destination)
    finally:
        destination.close()


def _copy_campaigns(archive, ids: list[int], partial: str) -> None:
    from .archive import Archive  # the target gets its schema the way every new archive does

    target = Archive(partial)
    try:
        queries = [select(table).where(_belongs(table, ids)) for table in Base.metadata.sorted_tables]
        with archive.engine.connect() as source, target.engine.begin() as sink:
            for table, query in zip(Base.metadata.sorted_tables, queries):
                ordered = query.order_by(*table.primary_key.columns)  # a program after the parent it names
                rows = source.execution_options(yield_per=CHUNK).execute(ordered)
                for chunk in rows.partitions(CHUNK):
                    sink.execute(table.insert(), [dict(row._mapping) for row in chunk])
    finally:
        target.close()


def _belongs(table, ids: list[int]):
    """The rows of `table` that belong to the campaigns `ids` (every table is tied to one, directly or
    through its program)."""
    if table is CampaignRecord.__table__:
        return table.c.id.in_(ids)
    if "campaign_id" in table.c:
        return table.c.campaign_id.in_(ids)
    if "program_id" in table.c:
        return table.c.program_id.in_(select(Program.id).where(Program.campaign_id.in_(ids)))
    raise RuntimeError(f"archive table {table.name} belongs to no campaign: teach archive/backup.py to copy it")


def _settle(path: str) -> None:
    """Out of WAL mode: the file alone is the archive (evolve switches it back to WAL when it opens it)."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
