"""Evaluate a task's program on a sandbox worker pool: the task-side half of the trust boundary.

`LocalExecutor` turns `evaluate(task, code, limits, split)` into a plain-data request for the
scorer host (`python -m evaluators.host`) running in the pool's workers, and the reply into an
`EvaluationResult`. The pool (sandbox/) only moves the request and enforces time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox import make_pool
from sandbox.limits import Limits

from .contract import EvaluationResult, Executor
from .task import Task

HOST_MODULE = "evaluators.host"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # where `evaluators` is importable from


class LocalExecutor(Executor):
    """An executor over one pool of sandboxed workers on this machine."""

    def __init__(self, pool, workers: int = 1):
        self.pool = pool
        self.workers = workers

    @property
    def name(self) -> str:
        return self.pool.name

    @classmethod
    def create(cls, kind: str = "process", workers: int = 1, jail: str = "auto", **options) -> "LocalExecutor":
        return cls(make_pool(kind, workers, worker_module=HOST_MODULE, pythonpath=[str(PROJECT_ROOT)], jail=jail,
                             **options), workers)

    async def start(self) -> None:
        await self.pool.start()

    async def evaluate(self, task: Task, code: str, limits: Limits | None = None, split: str | None = None,
                       options: dict[str, Any] | None = None) -> EvaluationResult:
        limits = limits or task.limits
        ref = task.ref()
        if ref.get("dir"):
            ref["dir"] = self.pool.share_dir(ref["dir"])
        note = self.pool.want_gpu(task.name, task.spec.gpu_optional) if task.spec.wants_gpu else None
        request = {"op": "evaluate", "task": ref, "code": code, "split": split or task.spec.train_split,
                   "limits": limits.to_dict(), "options": options or {}}
        result = EvaluationResult.from_dict(await self.pool.run(request, wall_s=limits.wall_s))
        if note:
            result.artifacts["gpu"] = note
        return result

    async def close(self) -> None:
        await self.pool.close()
