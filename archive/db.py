"""Engine creation and schema management (Alembic migrations run on open)."""
from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url

from .portable import postgres_json_serializer
from .sqlite_file import display_name as display_url  # noqa: F401  (the URL without its password)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key of schema upgrades: any fixed 64-bit number unique to this application
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha1(b"evolve archive migrations").digest()[:8], "big", signed=True)


def database_url(db: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (SQLite)."""
    if "://" in db:
        return db
    return "sqlite:///" + os.path.abspath(os.path.expanduser(db))


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(db: str) -> Engine:
    url = database_url(db)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    elif make_url(url).get_backend_name() == "postgresql":
        # a server that does not answer is an error in seconds, not a hang
        engine = create_engine(url, connect_args={"connect_timeout": 10}, json_serializer=postgres_json_serializer)
        ping_when_idle(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


PING_IDLE_S = 1.0  # a pooled connection unused this long is pinged before it is handed out


def ping_when_idle(engine: Engine, idle_s: float = PING_IDLE_S) -> None:
    """Ping a pooled connection before reuse only when it has been idle for `idle_s`.

    `pool_pre_ping` pings at every checkout: one network round trip per archive call, a third of a
    campaign's database time on a remote server. A connection handed back a moment ago (a campaign's
    database thread makes calls back to back) is used as it is; if the server went away meanwhile,
    the call fails with a connection error, the pool drops its connections, and the database
    thread runs the call again on a fresh one (evolve/loop/dbthread.py). One idle longer (a TUI's
    between refreshes, a pool after a quiet spell) is pinged and replaced if the server dropped it,
    as pre-ping would.
    """
    import time

    from sqlalchemy import exc

    def stamp(_dbapi_connection, record, *_args) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError(str(error)) from error  # the pool connects afresh
            raise

    event.listen(engine, "connect", stamp)
    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", checkout)


CHECKPOINT_WAIT_MS = 2000  # how long closing waits for another process's transaction before leaving it the checkpoint


def checkpoint(engine: Engine) -> None:
    """Copy a SQLite archive's write-ahead log into the database file and empty the log.

    In WAL mode committed pages live in `-wal` until a checkpoint; a file copied without its -wal
    misses them. TRUNCATE waits for other processes' readers and writers, briefly: one still
    writing (a campaign a TUI watches) checkpoints in its turn when it closes, so the last process
    to close leaves the .db file whole on its own. A no-op on other backends.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _script_directory():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config, ScriptDirectory.from_config(config)


_REVISION = re.compile(r"^revision = ['\"](\w+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision = (?:['\"](\w+)['\"]|None)", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def _revision_chain() -> tuple[frozenset[str], str]:
    """(every revision, the head), read from the migration files as text: opening an up-to-date or
    fresh archive does not import Alembic (a noticeable share of a campaign's start-up)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        text = path.read_text()
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            raise RuntimeError(f"{path.name}: no revision / down_revision line")
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"archive migrations must form one chain; heads: {sorted(heads)}")
    return frozenset(revisions), heads.pop()


def known_revisions() -> set[str]:
    """Every schema revision this version of evolve can open."""
    return set(_revision_chain()[0])


def head_revision() -> str:
    return _revision_chain()[1]


def _current_revision(connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _is_empty(connection) -> bool:
    return not inspect(connection).get_table_names()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it in an empty database).

    Processes opening a fresh archive at once (a TUI and the campaign it just launched) must not
    both run the first migration. The upgrade runs in one write transaction that SQLite itself
    serialises (BEGIN IMMEDIATE waits for the writer ahead, up to the busy timeout), and the
    revision is read again inside it, so the second process finds the schema done. No lock file:
    nothing is left beside the database or in the temp directory.
    """
    head = head_revision()
    with engine.connect() as connection:  # the common case, an up-to-date archive, takes no write lock
        if _current_revision(connection) == head:
            return
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            # Several processes (on several machines) may open an empty database at once: the first
            # to take this transaction-scoped lock creates the schema, the others wait and then find
            # it at head. PostgreSQL DDL is transactional, so a killed upgrade leaves nothing behind.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        current = _current_revision(connection)
        if current is None and _is_empty(connection):
            _create_at_head(connection, head)
        elif current != head:
            from alembic import command

            config, _ = _script_directory()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        connection.commit()


def _create_at_head(connection, head: str) -> None:
    """A fresh database: the schema as the models declare it, stamped at the head revision.

    tests/archive/test_archive_schema.py checks that this equals what the migrations build, so a model
    change without its migration fails there.
    """
    from .schema import Base

    Base.metadata.create_all(connection)
    connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
    connection.exec_driver_sql(f"INSERT INTO alembic_version (version_num) VALUES ('{head}')")
