"""The Docker sandbox image of this project: its identity (tag), build, and what the engine lacks.

The build is air-gapped from the engine's point of view: every wheel the image installs is
prepared on the host first (the project's own wheel is built from this checkout; the
dependencies come from a wheelhouse directory, filled with `pip download` when it lacks
something and a package index is reachable). `evolve sandbox build | doctor | clean` drives it.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPO = "evolve-sandbox"
# Files whose content decides what a worker in the image runs: the image tag hashes them.
HASHED_TREES = ("sandbox", "evaluators")
HASHED_FILES = ("pyproject.toml",)

DEFAULT_BASE = os.environ.get("EVOLVE_SANDBOX_BASE", "python:3.11-slim")
DEFAULT_WHEELHOUSE = Path(os.environ.get("EVOLVE_WHEELHOUSE", Path.home() / ".cache" / "evolve" / "wheels"))
# What the trusted worker imports (scorer side) and what candidates may import (jail side).
WORKER_PACKAGES = ("pyyaml", "pydantic")
JAIL_PACKAGES = ("numpy",)
PACKAGE_DIRS = ("evolve", "evaluators", "sandbox", "archive", "prompts")


class BuildError(RuntimeError):
    pass


def _hashed_paths(root: Path) -> list[Path]:
    paths = [root / name for name in HASHED_FILES if (root / name).is_file()]
    for tree in HASHED_TREES:
        for path in sorted((root / tree).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                paths.append(path)
    return paths


def source_digest(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for path in _hashed_paths(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def project_version(root: Path = PROJECT_ROOT) -> str:
    import tomllib
    with open(root / "pyproject.toml", "rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def image_tag(root: Path = PROJECT_ROOT) -> str:
    """The image for this checkout: project version plus a digest of what the worker runs."""
    return f"{IMAGE_REPO}:{project_version(root)}-{source_digest(root)}"


def _pinned(names) -> list[str]:
    """Pin each requirement to the version installed here, so container and host agree."""
    pins = []
    for name in names:
        if "=" in name or "<" in name or ">" in name:
            pins.append(name)
            continue
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def prepare_wheels(requirements: list[str], dest: Path, wheelhouse: Path, python_version: str) -> None:
    """Put wheels for `requirements` (and their dependencies) for the image's Python into dest."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    machine = platform.machine()
    target = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "linux"):
        target += ["--platform", f"{tag}_{machine}"]
    offline = _pip("download", "--no-index", "--find-links", str(wheelhouse), "-d", str(dest), *target, *requirements)
    if offline.returncode == 0:
        return
    online = _pip("download", "--find-links", str(wheelhouse), "-d", str(wheelhouse), *target, *requirements)
    if online.returncode != 0:
        last = (online.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise BuildError(f"cannot get wheels for {' '.join(requirements)}: {last} (put them in {wheelhouse}"
                         " or set EVOLVE_WHEELHOUSE to a directory that has them)")
    again = _pip("download", "--no-index", "--find-links", str(wheelhouse), "-d", str(dest), *target, *requirements)
    if again.returncode != 0:
        raise BuildError(f"wheels for {' '.join(requirements)} missing from {wheelhouse} after download")


def build_project_wheel(dest: Path, root: Path = PROJECT_ROOT) -> None:
    """Build the project's wheel from a copy of the checkout (the checkout stays untouched)."""
    with tempfile.TemporaryDirectory(prefix="evolve-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")
        for name in PACKAGE_DIRS:
            if (root / name).is_dir():
                shutil.copytree(root / name, src / name, ignore=ignore)
        done = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(src))
        if done.returncode != 0:
            raise BuildError("building the project wheel failed: " + done.stderr.strip()[-500:])


def build_image(base: str = DEFAULT_BASE, tag: str | None = None, wheelhouse: Path = DEFAULT_WHEELHOUSE,
                python_version: str = "3.11", extra_worker: tuple[str, ...] = (), extra_jail: tuple[str, ...] = (),
                client=None, log=print) -> str:
    """Build the sandbox image for this checkout on `base`; returns its tag."""
    from sandbox import connect

    client = client or connect()
    tag = tag or image_tag()
    worker_reqs = _pinned(WORKER_PACKAGES + tuple(extra_worker))
    jail_reqs = _pinned(JAIL_PACKAGES + tuple(extra_jail))
    with tempfile.TemporaryDirectory(prefix="evolve-image-") as tmp:
        ctx = Path(tmp)
        wheels = ctx / "wheels"
        wheels.mkdir()
        log(f"preparing wheels: {' '.join(worker_reqs + jail_reqs)}")
        prepare_wheels(worker_reqs + jail_reqs, wheels, Path(wheelhouse), python_version)
        build_project_wheel(wheels)
        (ctx / "worker-requirements.txt").write_text("\n".join(worker_reqs) + "\n")
        (ctx / "jail-requirements.txt").write_text("\n".join(jail_reqs) + "\n")
        (ctx / "jail").mkdir()
        for name in ("zygote.py", "wire.py"):
            shutil.copy2(PROJECT_ROOT / "sandbox" / name, ctx / "jail" / name)
        shutil.copy2(PROJECT_ROOT / "sandbox" / "Dockerfile", ctx / "Dockerfile")
        log(f"building {tag} on {base}")
        import docker.errors
        try:
            client.images.build(path=str(ctx), tag=tag, buildargs={"BASE": base}, rm=True, forcerm=True,
                                pull=False, labels={"org.evolve.sandbox": "1", "org.evolve.base": base,
                                                    "org.evolve.source": source_digest()})
        except docker.errors.BuildError as exc:
            lines = [str(chunk.get("stream", chunk.get("error", ""))).strip() for chunk in exc.build_log]
            detail = " | ".join(line for line in lines if line)[-600:]
            raise BuildError(f"docker build of {tag} failed: {exc.msg}; {detail}") from None
        except docker.errors.APIError as exc:
            raise BuildError(f"docker build of {tag} failed: {exc.explanation or exc}") from None
    log(f"built {tag}")
    return tag


def remove_superseded_images(client, keep: str) -> list[str]:
    """Remove sandbox images other than `keep` (older checkouts' builds) that no container uses."""
    import docker.errors
    removed = []
    for image in client.images.list(filters={"label": "org.evolve.sandbox=1"}):
        tags = [tag for tag in image.tags if tag.startswith(f"{IMAGE_REPO}:")]
        if not tags or keep in image.tags:
            continue
        try:
            for tag in tags:
                client.images.remove(tag, noprune=False)
            removed.extend(tags)
        except docker.errors.APIError:  # in use by a container: keep it
            pass
    return removed


def doctor(client=None) -> list[str]:
    """What the Docker sandbox lacks, one line each ([] when ready). GPU lines start 'no GPU'."""
    from sandbox import DockerUnavailable, connect, engine_runtimes, sandbox_containers

    try:
        client = client or connect(timeout=10)
    except DockerUnavailable as exc:
        return [str(exc)]
    problems = []
    import docker.errors
    tag = image_tag()
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        problems.append(f"sandbox image {tag} is absent: run `evolve sandbox build`")
    if "nvidia" not in engine_runtimes(client):
        problems.append("no GPU runtime: the Docker engine has no NVIDIA runtime, so GPU tasks run on CPU"
                        " where they allow it (install nvidia-container-toolkit)")
    orphans = sandbox_containers(client, all_owners=False)
    if orphans:
        problems.append(f"{len(orphans)} sandbox container(s) left by dead controllers: run `evolve sandbox clean`")
    return problems
