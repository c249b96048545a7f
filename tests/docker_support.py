"""Fixtures for tests that need a real Docker engine.

Locally, a test that cannot reach an engine is skipped with the reason. With CI=true it fails:
CI installs and starts the engine (.ci/docker-setup.sh), so a missing engine is a CI bug.
"""
from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
CI_BASE = "evolve-base:bookworm"  # built offline by .ci/docker-setup.sh


def unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"CI=true and Docker is required: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    from sandbox.docker_backend import DockerUnavailable, connect
    try:
        return connect(timeout=30)
    except DockerUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def docker_image(docker_client) -> str:
    """The sandbox image for this checkout, built on first use when absent."""
    import docker.errors

    from evolve.executors.docker_image import DEFAULT_BASE, build_image, image_tag
    tag = image_tag()
    try:
        docker_client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    try:
        docker_client.images.get(CI_BASE)
        base = CI_BASE
    except docker.errors.ImageNotFound:
        base = DEFAULT_BASE
    return build_image(base=base, tag=tag, client=docker_client, log=lambda _line: None)
