"""Where a campaign's evaluations run: the one registry of executors.

An executor is a `evaluators.contract.Sandbox`: `await evaluate(task, code, limits, split)` and
`await close()`. `local` runs a worker pool of the configured sandbox backend on this machine.
"""
from __future__ import annotations

import importlib
from typing import Any

# name -> "module:factory"; a factory takes the campaign config and returns a Sandbox.
EXECUTORS = {
    "local": "evolve.executors.local:from_config",
}


def build_executor(config) -> Any:
    name = getattr(config, "executor", "local")
    module, _, factory = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), factory)(config)


def make_sandbox(kind: str = "process", workers: int = 1, jail: str = "auto", **options):
    """A local executor of sandbox backend `kind` (see sandbox.BACKENDS)."""
    from .local import local_sandbox
    return local_sandbox(kind, workers=workers, jail=jail, **options)


__all__ = ["EXECUTORS", "build_executor", "make_sandbox"]
