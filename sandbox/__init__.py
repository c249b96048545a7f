"""Where candidate programs run: transport, jail, candidate handle and worker pools.

The sandbox knows nothing of tasks. A pool runs the caller's worker module (`python -m MODULE`)
in a local process or a container and relays plain-data requests to it; the worker drives
candidates through `sandbox.candidate.Candidate`, each a process forked from a jailed zygote.
"""
from __future__ import annotations

import importlib
from typing import Sequence

from .failures import SandboxUnavailable
from .limits import Limits

# The one registry of sandbox backends: name -> "module:class" (imported when chosen).
BACKENDS = {
    "process": "sandbox.process:ProcessPool",
    "docker": "sandbox.docker_backend:DockerPool",
}


def make_pool(kind: str, workers: int = 1, *, worker_module: str, pythonpath: Sequence[str] = (),
              jail: str = "auto", **options):
    """A worker pool of backend `kind` running `worker_module`; options are the backend's own."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown sandbox {kind!r}; choose one of: {', '.join(BACKENDS)}")
    module, _, name = BACKENDS[kind].partition(":")
    pool_class = getattr(importlib.import_module(module), name)
    if kind == "process":
        return pool_class(workers, worker_module=worker_module, pythonpath=pythonpath, jail=jail, **options)
    return pool_class(workers, worker_module=worker_module, **options)


# The rest of the public API, imported on first use (the pool loads numpy, the Docker helpers the docker
# SDK): name -> the module that defines it.
_LAZY = {"SCORER_GRACE_S": "sandbox.pool", "bwrap_available": "sandbox.jail",
         **dict.fromkeys(("DockerUnavailable", "connect", "engine_runtimes", "remove_containers",
                          "sandbox_containers"), "sandbox.docker_backend")}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


__all__ = ["BACKENDS", "Limits", "SandboxUnavailable", "make_pool", *_LAZY]
