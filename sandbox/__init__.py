"""Where candidate programs run: a local jailed process backend and a Docker backend."""
from __future__ import annotations

from .result import EvaluationResult, Limits, Status

BACKENDS = ("process", "docker")


def make_sandbox(kind: str = "process", workers: int = 1, jail: str = "auto", **options):
    """Build a sandbox backend: an object with async `evaluate(task, code, limits, split)` and `close()`."""
    if kind == "process":
        from .process import ProcessSandbox
        return ProcessSandbox(workers=workers, jail=jail)
    if kind == "docker":
        from .docker_backend import DockerSandbox
        return DockerSandbox(workers=workers, **options)
    raise ValueError(f"unknown sandbox {kind!r}; choose one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "EvaluationResult", "Limits", "Status", "make_sandbox"]
