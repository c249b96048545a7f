import os
from pathlib import Path

import pytest

from core_support import ROOT, TOY_TASK


@pytest.fixture
def toy_task_dir() -> Path:
    return TOY_TASK


@pytest.fixture
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env
