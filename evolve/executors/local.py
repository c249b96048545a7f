"""The local executor: a pool of sandbox workers (process jail or Docker) on this machine."""
from __future__ import annotations

from evaluators.runner import TaskRunner


def local_sandbox(kind: str = "process", workers: int = 1, jail: str = "auto", **options) -> TaskRunner:
    if kind == "docker" and not options.get("image"):
        from .docker_image import image_tag
        options["image"] = image_tag()
    return TaskRunner.create(kind, workers, jail=jail, **options)


def from_config(config) -> TaskRunner:
    return local_sandbox(config.sandbox, workers=config.workers, jail=config.jail)
