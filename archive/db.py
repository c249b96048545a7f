"""Engine creation and schema management (Alembic migrations run on open)."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def _script_directory():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config, ScriptDirectory.from_config(config)


def known_revisions() -> set[str]:
    """Every schema revision this version of evolve can open."""
    return {script.revision for script in _script_directory()[1].walk_revisions()}


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it in an empty database).

    Processes opening a fresh archive at once (a TUI and the campaign it just launched) must not
    both run the first migration. The upgrade runs in one write transaction that SQLite itself
    serialises (BEGIN IMMEDIATE waits for the writer ahead, up to the busy timeout), and the
    revision is read again inside it, so the second process finds the schema done. No lock file:
    nothing is left beside the database or in the temp directory.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config, scripts = _script_directory()
    head = scripts.get_current_head()
    with engine.connect() as connection:  # the common case, an up-to-date archive, takes no write lock
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if MigrationContext.configure(connection).get_current_revision() != head:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        connection.commit()
