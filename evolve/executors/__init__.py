"""Where a campaign's evaluations run: the one registry of executors (`evaluators.contract.Executor`).

`local` runs a worker pool of the configured sandbox backend (process jail or Docker) on this
machine; `ray` runs the same pool on the nodes of a Ray cluster (evolve/executors/ray.py).
"""
from __future__ import annotations

import importlib

from evaluators.contract import Executor

# name -> "module:factory"; a factory takes the campaign config and returns an Executor.
EXECUTORS = {
    "local": "evolve.executors.local:from_config",
    "ray": "evolve.executors.ray:from_config",
}


def build_executor(config) -> Executor:
    module, _, factory = EXECUTORS[config.executor].partition(":")
    return getattr(importlib.import_module(module), factory)(config)


def check_executor(config, task) -> None:
    """Fail in one line (SandboxUnavailable) before a campaign is stored or resumed if its executor
    cannot run it."""
    build_executor(config).check(task)


def local_executor(kind: str = "process", workers: int = 1, jail: str = "auto", **options) -> Executor:
    """An executor on this machine over sandbox backend `kind` (see sandbox.BACKENDS)."""
    from .local import local_executor as build
    return build(kind, workers=workers, jail=jail, **options)


__all__ = ["EXECUTORS", "Executor", "build_executor", "check_executor", "local_executor"]
