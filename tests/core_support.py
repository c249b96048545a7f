"""Helpers shared by the core tests (a uniquely named module: tests/sandbox/hostile has its own conftest)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOY_TASK = ROOT / "tests" / "fixtures" / "toy_task"


def evolve_cmd(*args) -> list[str]:
    """The evolve CLI as a real subprocess, from this checkout."""
    return [sys.executable, "-m", "evolve", *map(str, args)]


def query(db: str, sql: str) -> list[dict]:
    """Rows of a read-only query on an archive (a SQLite path or a URL); [] while its schema does not exist yet."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from archive.db import database_url

    url = database_url(db)
    if url.startswith("sqlite:///") and not os.path.exists(url[len("sqlite:///"):]):
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return [dict(row._mapping) for row in con.execute(text(sql))]
    except (OperationalError, ProgrammingError):  # e.g. killed before the schema was created
        return []
    finally:
        engine.dispose()
