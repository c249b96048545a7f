"""Helpers shared by the core tests (a uniquely named module: tests/hostile has its own conftest)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOY_TASK = ROOT / "tests" / "fixtures" / "toy_task"


def evolve_cmd(*args) -> list[str]:
    """The evolve CLI as a real subprocess, from this checkout."""
    return [sys.executable, "-m", "evolve", *map(str, args)]
