"""Which device a model-backed task's scorer would run its model on, said without importing torch.

A task declares `device:` in task.yaml (`auto`, `cpu` or `cuda`); `auto` is CUDA when the
scorer's `torch.cuda.is_available()` would be true, else the CPU (evaluators.tasks.models.registry.pick_device).
Importing torch to ask takes seconds, so `evolve tasks` and `evolve sandbox doctor` answer from
what that call depends on: a torch build with CUDA (torch/version.py names a CUDA version), an
NVIDIA driver (/proc/driver/nvidia/version) and CUDA_VISIBLE_DEVICES not hiding every GPU.
When torch is already imported its own answer is used.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def torch_cuda_build() -> str | None:
    """The CUDA version the installed torch was built with (None for a CPU-only build or no torch)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return None
    version_file = Path(spec.origin).parent / "version.py"
    if not version_file.is_file():
        return None
    match = re.search(r"^cuda(?:: [^=]+)? = ['\"]([^'\"]+)['\"]", version_file.read_text(), flags=re.M)
    return match.group(1) if match else None


def cuda_usable(driver: Path = NVIDIA_DRIVER) -> bool:
    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return torch_cuda_build() is not None and driver.exists()


def task_device(declared: str | None) -> str | None:
    """The device a task declaring `declared` would use here; None for a task that runs no model."""
    if declared is None:
        return None
    if declared == "auto":
        return "cuda" if cuda_usable() else "cpu"
    return declared


def describe_device(declared: str | None) -> str:
    """One phrase for listings: 'cpu (auto: no CUDA GPU visible)', 'cuda (auto)', or '-'."""
    device = task_device(declared)
    if device is None:
        return "-"
    if declared == "auto":
        return f"{device} (auto)" if device == "cuda" else f"{device} (auto: no CUDA GPU visible)"
    return device


def model_task_devices() -> list[str]:
    """One line per built-in task that runs a model: where its scorer would run it on this machine."""
    from .task import builtin_task_names, load_builtin

    lines = []
    for name in builtin_task_names():
        declared = load_builtin(name).spec.device
        if declared is not None:
            lines.append(f"{name}: model on {describe_device(declared)}")
    return lines
