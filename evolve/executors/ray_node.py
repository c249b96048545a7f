"""What runs on a Ray node: an actor holding a warm sandbox, and the doctor's node probe.

The sandbox (process jail or Docker) runs on the node that evaluates, with the same worker
protocol and limits as on one machine. A candidate's failure is a normal result here, never an
exception, so Ray has nothing to retry: only a lost node or worker surfaces as a Ray error.
"""
from __future__ import annotations

import os
import socket
import traceback
from pathlib import Path
from typing import Any

from evaluators.contract import EvaluationResult, Status
from sandbox import SandboxUnavailable
from sandbox import Limits

from . import task_bundle


def node_id() -> str:
    import ray
    return ray.get_runtime_context().get_node_id()


class EvaluationActor:
    """One warm sandbox worker on one node; evaluates one program at a time."""

    def __init__(self, sandbox: str, jail: str, sandbox_options: dict[str, Any]):
        from .local import local_executor

        self.task_dirs: dict[str, Path] = {}
        self.tasks: dict[tuple, Any] = {}  # loaded once per actor, not once per evaluation
        self.executor = None
        self.unavailable: str | None = None
        try:
            self.executor = local_executor(sandbox, workers=1, jail=jail, **sandbox_options)
        except SandboxUnavailable as exc:  # reported by ready(): raising here would look like a lost node
            self.unavailable = str(exc)

    async def ready(self) -> dict[str, Any]:
        """Start the sandbox worker (warm from the first evaluation on); say where this actor runs."""
        info = {"node_id": node_id(), "pid": os.getpid(), "host": socket.gethostname()}
        try:
            if self.executor is None:
                raise SandboxUnavailable(self.unavailable or "no sandbox")
            await self.executor.start()
        except SandboxUnavailable as exc:
            info["unavailable"] = f"node {info['host']}: {exc}"
        return info

    async def evaluate(self, task_ref: dict, bundle: list | None, code: str, split: str,
                       limits: dict, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """{"result": EvaluationResult dict} or {"unavailable": why the sandbox cannot run here}."""
        from evaluators.task import TaskError, load_task_ref

        try:
            ref = dict(task_ref)
            if bundle is not None:
                ref["dir"] = str(await self._task_dir(*bundle))
            key = (ref.get("name"), ref.get("dir"))
            task = self.tasks.get(key)
            if task is None:
                task = self.tasks[key] = load_task_ref(ref)
            result = await self.executor.evaluate(task, code, Limits.from_dict(limits), split=split, options=options)
        except SandboxUnavailable as exc:
            return {"unavailable": f"node {socket.gethostname()}: {exc}"}
        except TaskError as exc:
            result = EvaluationResult.failure(Status.REJECTED, str(exc))
        except Exception as exc:  # noqa: BLE001 - an executor bug is a recorded failure, not a Ray retry
            result = EvaluationResult.failure(Status.CRASHED, f"executor error: {type(exc).__name__}: {exc}",
                                              traceback=traceback.format_exc()[-4000:])
        return {"result": result.to_dict()}

    async def _task_dir(self, digest: str, data_ref) -> Path:
        if digest not in self.task_dirs:
            self.task_dirs[digest] = task_bundle.unpack(await data_ref, digest)
        return self.task_dirs[digest]

    async def close(self) -> None:
        if self.executor is not None:
            await self.executor.close()


def probe_node() -> dict[str, Any]:
    """Which sandbox backends this node can run (for `evolve sandbox doctor --executor ray`)."""
    from sandbox import bwrap_available

    report: dict[str, Any] = {"node_id": node_id(), "host": socket.gethostname()}
    try:
        report["process"] = "bubblewrap jail" if bwrap_available() else "no bubblewrap: plain processes with rlimits"
    except Exception as exc:  # noqa: BLE001
        report["process"] = f"unusable: {exc}"
    try:
        from .docker_image import doctor
        problems = [p for p in doctor() if not p.startswith("no GPU")]
        report["docker"] = "ready" if not problems else problems[0]
    except Exception as exc:  # noqa: BLE001
        report["docker"] = f"unusable: {exc}"
    return report
