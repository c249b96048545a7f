"""A user's task directory as bytes, so it reaches Ray nodes through the object store.

Nodes share no filesystem with the controller: the directory is zipped once, put in the
object store, and unpacked on each node into a directory named by its digest (unpacked
once per node, reused by every actor there).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
SKIPPED = {"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache"}


class BundleTooLarge(ValueError):
    pass


def pack(root: Path) -> tuple[bytes, str]:
    """(zip bytes, sha256 digest) of a task directory, skipping caches and VCS folders."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if any(part in SKIPPED for part in relative.parts) or not path.is_file():
                continue
            archive.write(path, relative.as_posix())
            if buffer.tell() > MAX_BUNDLE_BYTES:
                raise BundleTooLarge(f"task directory {root} is over {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB zipped; "
                                     f"ship large data inside the installed package instead")
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def unpack(data: bytes, digest: str, base: Path | None = None) -> Path:
    """Unpack a bundle under `base` (default: the node's temp dir) once; return the task directory."""
    base = base or Path(tempfile.gettempdir()) / "evolve-task-bundles"
    target = base / digest[:24]
    if target.is_dir():
        return target
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError("task bundle digest mismatch")
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=base))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():  # our own zip, but never write outside the staging dir
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ValueError(f"task bundle member {member!r} escapes its directory")
            archive.extractall(staging)
        try:
            os.rename(staging, target)  # atomic: concurrent actors on one node see all or nothing
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
