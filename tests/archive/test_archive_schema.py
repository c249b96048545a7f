"""A fresh archive is created from the models and stamped at the head revision; that must be exactly
the schema the migrations build, or archives made by older releases would upgrade to something else."""
from __future__ import annotations

import sqlite3

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from archive import Archive
from archive.db import _script_directory, head_revision
from archive.schema import Base


def _structure(path) -> dict:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table' order by name")]
        out = {}
        for table in tables:
            columns = sorted(tuple(r[1:]) for r in db.execute(f"pragma table_info('{table}')"))  # order: migrations append
            indexes = {}
            for _, name, unique, *_ in db.execute(f"pragma index_list('{table}')"):
                indexes[name if not name.startswith("sqlite_autoindex") else f"auto:{unique}"] = (
                    unique, [r[2] for r in db.execute(f"pragma index_info('{name}')")])
            foreign = sorted(tuple(r[2:5]) for r in db.execute(f"pragma foreign_key_list('{table}')"))
            out[table] = {"columns": columns, "indexes": dict(sorted(indexes.items())), "foreign": foreign}
    return out


def _migrated(path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    config, _ = _script_directory()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def test_migrations_build_what_the_models_declare(tmp_path):
    _migrated(tmp_path / "migrated.db")
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], differences


def test_a_fresh_archive_equals_the_migrated_schema_at_the_same_head(tmp_path):
    _migrated(tmp_path / "migrated.db")
    Archive(str(tmp_path / "fresh.db")).close()
    assert _structure(tmp_path / "fresh.db") == _structure(tmp_path / "migrated.db")
    with sqlite3.connect(tmp_path / "fresh.db") as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(head_revision(),)]


def test_the_head_read_from_the_files_is_alembics():
    _, scripts = _script_directory()
    assert head_revision() == scripts.get_current_head()
