import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOY_TASK = ROOT / "tests" / "fixtures" / "toy_task"


@pytest.fixture
def toy_task_dir() -> Path:
    return TOY_TASK


def evolve_cmd(*args: str) -> list[str]:
    """The evolve CLI as a real subprocess, from this checkout."""
    return [sys.executable, "-m", "evolve", *map(str, args)]


@pytest.fixture
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env
