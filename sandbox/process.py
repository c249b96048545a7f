"""Local process backend: workers are subprocesses, candidates run in a bubblewrap jail."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .pool import WorkerPool, WorkerProcess

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


class ProcessSandbox(WorkerPool):
    name = "process"

    def __init__(self, workers: int = 1, jail: str = "auto"):
        self.jail = jail
        command = [sys.executable, "-m", "sandbox.worker", "--jail", jail]
        super().__init__(workers, lambda: WorkerProcess(command, env=worker_env()))
