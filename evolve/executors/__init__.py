"""Where a campaign's evaluations run: the one registry of executors.

An executor is a `evaluators.contract.Sandbox`: `await evaluate(task, code, limits, split)` and
`await close()`. `local` runs a worker pool of the configured sandbox backend on this machine;
`ray` runs the same pool on the nodes of a Ray cluster (evolve/executors/ray.py).
"""
from __future__ import annotations

import importlib
from typing import Any

# name -> "module:factory"; a factory takes the campaign config and returns a Sandbox.
EXECUTORS = {
    "local": "evolve.executors.local:from_config",
    "ray": "evolve.executors.ray:from_config",
}


def build_executor(config) -> Any:
    name = getattr(config, "executor", "local")
    module, _, factory = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), factory)(config)


def check_executor(config, task) -> None:
    """Fail in one line (SandboxUnavailable) before a campaign is stored or resumed if its executor
    cannot run it (the local sandbox reports its own problems when it starts)."""
    if getattr(config, "executor", "local") != "local":
        build_executor(config).check(task)


def make_sandbox(kind: str = "process", workers: int = 1, jail: str = "auto", **options):
    """A local executor of sandbox backend `kind` (see sandbox.BACKENDS)."""
    from .local import local_sandbox
    return local_sandbox(kind, workers=workers, jail=jail, **options)


__all__ = ["EXECUTORS", "build_executor", "check_executor", "make_sandbox"]
