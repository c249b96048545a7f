import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from core_support import ROOT, TOY_TASK

# mutation runs (bench/mutation_report.py): fixed examples and no example database, so the kill rate
# is reproducible; no shrinking, since a failing example is all a killed mutant needs
# and fewer examples for the SQLite-backed properties (the pure ones set their own count)
settings.register_profile("mutation", derandomize=True, database=None, phases=(Phase.explicit, Phase.generate),
                          max_examples=12)


@pytest.fixture
def toy_task_dir() -> Path:
    return TOY_TASK


@pytest.fixture
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env
