import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from core_support import ROOT, TOY_TASK

# mutation runs (bench/mutation_report.py): fixed examples and no example database, so the kill rate
# is reproducible; no shrinking, since a failing example is all a killed mutant needs
# and fewer examples for the SQLite-backed properties (the pure ones set their own count)
settings.register_profile("mutation", derandomize=True, database=None, phases=(Phase.explicit, Phase.generate),
                          max_examples=12)

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def toy_task_dir() -> Path:
    return TOY_TASK


@pytest.fixture
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env


@pytest.fixture(scope="session")
def pg_admin_url():
    """An admin URL of a PostgreSQL server: $EVOLVE_TEST_PG_URL, else a throwaway cluster for this session.

    Without PostgreSQL the dependent tests skip, except under CI=true, where they fail.
    """
    import pg_support

    if os.environ.get(pg_support.ENV_URL):
        yield os.environ[pg_support.ENV_URL]
        return
    missing = None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing = "psycopg is not installed (pip install 'psycopg[binary]')"
    if missing is None and pg_support.find_bindir() is None:
        missing = "PostgreSQL is not installed (apt-get install postgresql) and EVOLVE_TEST_PG_URL is unset"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    root = tempfile.mkdtemp(prefix="evolve-pg-")
    try:
        yield pg_support.start_cluster(root)
    finally:
        pg_support.stop_cluster(root)


@pytest.fixture
def pg_url(request):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import pg_support

    admin = request.getfixturevalue("pg_admin_url")
    url = pg_support.create_database(admin)
    yield url
    pg_support.drop_database(admin, url)


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """The archive's --db for one test, once per backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "archive.db")
    return request.getfixturevalue("pg_url")


def pytest_collection_modifyitems(config, items):
    """Mark what a test needs, read off its fixtures, so `-m "not docker and not ray"` leaves out exactly the
    tests that need a Docker engine or a Ray cluster (the fast tier: README, pyproject.toml's markers)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        params = getattr(getattr(item, "callspec", None), "params", {})
        if {"docker_client", "docker_image"} & set(names) or params.get("harness") == "docker":
            item.add_marker(pytest.mark.docker)
        if "ray_cluster" in names:
            item.add_marker(pytest.mark.ray)
