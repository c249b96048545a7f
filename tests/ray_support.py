"""A real two-raylet Ray cluster for the Ray executor tests (one per test session).

`EVOLVE_TEST_RAY_DIR` (set by .ci/run with EVOLVE_TEST_RAY_ADDRESS): attach to the cluster
started there. Otherwise start one in a temp dir — a head with 2 CPUs and a second raylet
with 2 CPUs and a custom resource `node2` — and stop it by PID at the end.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from evolve.executors.local_cluster import LocalRayCluster, _cmdline, _parents, alive, descendants

from core_support import ROOT

NODES = [{"num_cpus": 2}, {"num_cpus": 2, "resources": {"node2": 4}}]


def start_or_attach() -> tuple[LocalRayCluster, bool]:
    """(cluster, started_here)."""
    existing = os.environ.get("EVOLVE_TEST_RAY_DIR")
    if existing:
        return LocalRayCluster.attach(Path(existing)), False
    cluster = LocalRayCluster.create(env={"PYTHONPATH": str(ROOT)})
    try:
        cluster.start(NODES)
    except Exception:
        cluster.stop()
        raise
    return cluster, True


def evaluation_processes(cluster: LocalRayCluster) -> set[int]:
    """Live evaluation actors on the cluster's raylets and every process below them (sandbox
    workers, zygotes, candidates)."""
    parents = _parents()
    raylets = {node["raylet_pid"] for node in cluster.nodes}
    actors = {pid for pid in descendants(raylets, parents) if "EvaluationActor" in " ".join(_cmdline(pid))}
    return {pid for pid in actors | descendants(actors, parents) if alive(pid)}


def processes_under(raylet_pid: int, marker: str) -> set[int]:
    parents = _parents()
    return {pid for pid in descendants({raylet_pid}, parents) if marker in " ".join(_cmdline(pid)) and alive(pid)}


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def restore_node(cluster: LocalRayCluster, index: int) -> None:
    """Start a replacement for a killed raylet, with the same resources."""
    node = cluster.nodes[index]
    if alive(node["raylet_pid"]):
        return
    cluster.nodes.pop(index)
    cluster.add_node({"num_cpus": node["num_cpus"], "resources": node["resources"]})
    cluster.nodes.insert(index, cluster.nodes.pop())
    cluster._save()
