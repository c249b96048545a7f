"""What one evaluation asks of a Ray node, and whether any node of a cluster can give it."""
from __future__ import annotations

from typing import Any

from sandbox import SandboxUnavailable

MIB = 1024 * 1024


def resource_request(task, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Ray actor options (num_cpus, num_gpus, memory, resources) for one evaluation of `task`.

    `gpus` unset in task.yaml: a task that wants a GPU asks for one when some node has one,
    else runs on CPU where the task allows it.
    """
    spec = task.spec.resources
    gpus = spec.gpus
    if gpus is None:
        cluster_has_gpu = any(node.get("GPU", 0) >= 1 for node in nodes)
        if task.spec.wants_gpu and not cluster_has_gpu and not task.spec.gpu_optional:
            raise SandboxUnavailable(f"task {task.name!r} needs a GPU and no node of the Ray cluster has one")
        gpus = 1.0 if task.spec.wants_gpu and cluster_has_gpu else 0.0
    request: dict[str, Any] = {"num_cpus": spec.cpus, "num_gpus": gpus}
    if spec.memory_mb:
        request["memory"] = spec.memory_mb * MIB
    if spec.custom:
        request["resources"] = dict(spec.custom)
    return request


def as_totals(request: dict[str, Any]) -> dict[str, float]:
    """The request in Ray's resource names (CPU, GPU, memory, custom) as a node reports them."""
    totals = {"CPU": request.get("num_cpus", 0), "GPU": request.get("num_gpus", 0),
              "memory": request.get("memory", 0), **request.get("resources", {})}
    return {name: float(amount) for name, amount in totals.items() if amount}


def describe(totals: dict[str, float]) -> str:
    parts = []
    for name, amount in sorted(totals.items()):
        if name.startswith("node:") or name == "object_store_memory" or not isinstance(amount, (int, float)):
            continue
        shown = f"{amount / MIB:.0f} MiB" if name == "memory" else f"{amount:g}"
        parts.append(f"{name} {shown}")
    return ", ".join(parts) or "nothing"


def check_fits(task, request: dict[str, Any], nodes: list[dict[str, Any]], address: str) -> None:
    """Raise SandboxUnavailable (one line) unless some alive node holds one evaluation's resources."""
    need = as_totals(request)
    if any(all(node.get(name, 0) >= amount for name, amount in need.items()) for node in nodes):
        return
    have = "; ".join(f"[{describe(node)}]" for node in nodes) or "no alive node"
    raise SandboxUnavailable(f"no node of the Ray cluster at {address} fits one evaluation of task {task.name!r} "
                             f"(needs {describe(need)}; nodes have {have}); change resources: in task.yaml or "
                             f"add a node that has them")
