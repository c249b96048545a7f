"""The local executor: a pool of sandbox workers (process jail or Docker) on this machine."""
from __future__ import annotations

from evaluators.runner import LocalExecutor


def local_executor(kind: str = "process", workers: int = 1, jail: str = "auto", **options) -> LocalExecutor:
    if kind == "docker" and not options.get("image"):
        from .docker_image import image_tag
        options["image"] = image_tag()
    return LocalExecutor.create(kind, workers, jail=jail, **options)


def from_config(config) -> LocalExecutor:
    return local_executor(config.sandbox, workers=config.workers, jail=config.jail)
