"""`evolve sandbox doctor --executor ray`: the cluster's nodes, resources and sandbox backends."""
from __future__ import annotations

from typing import Any

from .ray import alive_nodes, connect
from .resources import describe

PROBE_TIMEOUT_S = 60.0


def cluster_report(address: str | None) -> list[dict[str, Any]]:
    """One entry per alive node: its resources and what the probe run on it found."""
    ray = connect(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .ray_node import probe_node

    probe = ray.remote(probe_node)
    nodes = alive_nodes(ray)
    refs = [probe.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        node["NodeID"], soft=False)).remote() for node in nodes]
    report = []
    for node, ref in zip(nodes, refs):
        try:
            found = ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a node that cannot run the probe is reported, not fatal
            found = {"process": f"probe failed: {str(exc).splitlines()[0][:200]}", "docker": "unknown"}
        resources = {k: v for k, v in node.items() if k != "NodeID"}
        report.append({"node_id": node["NodeID"], "resources": resources, **found})
    return report


def print_report(address: str | None) -> int:
    report = cluster_report(address)
    print(f"Ray cluster at {address or 'auto'}: {len(report)} alive node(s)")
    for node in report:
        cpus, gpus = node["resources"].get("CPU", 0), node["resources"].get("GPU", 0)
        print(f"node {node['node_id'][:12]} ({node.get('host', '?')}): CPUs {cpus:g}, GPUs {gpus:g}; "
              f"resources: {describe(node['resources'])}")
        print(f"  process sandbox: {node['process']}")
        print(f"  docker sandbox: {node['docker']}")
    return 0 if report else 1
