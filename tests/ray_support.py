"""A real two-raylet Ray cluster for the Ray executor tests (one per test session).

`EVOLVE_TEST_RAY_DIR` (set by .ci/run with EVOLVE_TEST_RAY_ADDRESS): attach to the cluster
`python -m evolve.executors.local_cluster start` made there. `EVOLVE_TEST_RAY_ADDRESS` alone:
use that cluster (the tests that kill a raylet or look at its processes need the directory).
Otherwise start one in a temp dir — a head with 2 CPUs and a second raylet with 2 CPUs and a
custom resource `node2` — and stop it by PID at the end.
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
    address = os.environ.get("EVOLVE_TEST_RAY_ADDRESS")
    if address:
        cluster = LocalRayCluster(Path("/nonexistent"))
        cluster.address = address
        return cluster, False
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


def need_processes(cluster: LocalRayCluster) -> None:
    """Skip (never under CI) a test that must see or kill the cluster's raylet processes."""
    if not cluster.nodes:
        if os.environ.get("CI") == "true":
            raise AssertionError("CI must set EVOLVE_TEST_RAY_DIR with EVOLVE_TEST_RAY_ADDRESS")
        import pytest
        pytest.skip("EVOLVE_TEST_RAY_ADDRESS without EVOLVE_TEST_RAY_DIR: this test needs the raylets' PIDs")
