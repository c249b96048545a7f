"""Local process backend: workers are subprocesses; candidates run in a bubblewrap jail."""
from __future__ import annotations

import os
import sys
from typing import Sequence

from .pool import WorkerPool, WorkerProcess


def worker_env(pythonpath: Sequence[str] = ()) -> dict[str, str]:
    """The worker's environment: ours without credentials, with the caller's import path first."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*pythonpath, env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


class ProcessPool(WorkerPool):
    """Workers run `python -m WORKER_MODULE --jail JAIL` as local subprocesses.

    The worker module is the caller's (it speaks the worker protocol and drives candidates
    through `sandbox.candidate`); `pythonpath` is where Python finds it.
    """

    name = "process"

    def __init__(self, workers: int = 1, *, worker_module: str, pythonpath: Sequence[str] = (), jail: str = "auto"):
        self.jail = jail
        command = [sys.executable, "-m", worker_module, "--jail", jail]
        env = worker_env(pythonpath)
        super().__init__(workers, lambda: WorkerProcess(command, env=env))
