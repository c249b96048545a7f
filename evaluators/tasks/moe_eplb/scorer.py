"""Trusted scorer for moe_eplb.

For each workload of the split, the candidate's rebalance_experts runs on window i and its
mapping is scored on window i+1. Every returned mapping is validated here. The runtime is the
wall time of the whole call measured on this (trusted) side of the sandbox boundary: a
candidate cannot under-report it (see README.md, "Measuring runtime").
"""
from __future__ import annotations

import time

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput

from .workloads import Shape, warmup, workloads

INTEGER_DTYPES = {"int64", "int32", "int16", "int8", "uint8"}
WORST_SHOWN = 5
WARMUP_CALLS = 3


def adrs_score(balancedness: float, runtime_s: float) -> float:
    """The ADRS leaderboard formula: 90 x balancedness + 5 x min(2 ms / runtime, 2),
    minus min(20 x runtime_s, 20) when the runtime exceeds 10 ms."""
    speed = 5.0 * min(0.002 / runtime_s, 2.0) if runtime_s > 0 else 10.0
    penalty = min(20.0 * runtime_s, 20.0) if runtime_s > 0.010 else 0.0
    return 90.0 * balancedness + speed - penalty


def validate(reply, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """Check a mapping in full; returns (phy2log, logcnt) as int64 arrays."""
    if not isinstance(reply, dict):
        raise InvalidOutput("the EPLB adapter returned a malformed reply")
    if "error" in reply:
        raise InvalidOutput(str(reply["error"])[:300])
    # Equal slots per GPU follow from the shape: GPU g owns the g-th run of replicas / gpus slots.
    layers, experts, replicas = shape.layers, shape.experts, shape.replicas
    arrays = {}
    for name in ("phy2log", "log2phy", "logcnt"):
        value = reply.get(name)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
            raise InvalidOutput(f"{name} is not an integer array")
        arrays[name] = value.astype(np.int64)
    dtypes = reply.get("dtypes")
    if not isinstance(dtypes, list) or len(dtypes) != 3 or not all(d in INTEGER_DTYPES for d in dtypes):
        raise InvalidOutput(f"tensor dtypes {dtypes!r} are not all integer dtypes (torch.int64 expected)")
    phy2log, log2phy, logcnt = arrays["phy2log"], arrays["log2phy"], arrays["logcnt"]

    if phy2log.shape != (layers, replicas):
        raise InvalidOutput(f"phy2log has shape {phy2log.shape}; expected {(layers, replicas)}")
    if logcnt.shape != (layers, experts):
        raise InvalidOutput(f"logcnt has shape {logcnt.shape}; expected {(layers, experts)}")
    width = reply.get("log2phy_width")
    if log2phy.ndim != 3 or log2phy.shape[:2] != (layers, experts) or type(width) is not int \
            or not log2phy.shape[2] <= width <= replicas:
        raise InvalidOutput(f"log2phy has shape {log2phy.shape[:2]} x {width!r}; expected "
                            f"{(layers, experts)} x (max replicas, at most {replicas})")
    if phy2log.min() < 0 or phy2log.max() >= experts:
        raise InvalidOutput(f"phy2log holds expert ids outside [0, {experts})")
    if (logcnt < 1).any():
        layer, expert = np.argwhere(logcnt < 1)[0]
        raise InvalidOutput(f"layer {layer}: expert {expert} has {logcnt[layer, expert]} replicas; every expert needs >= 1")
    if (logcnt.sum(axis=1) != replicas).any():
        layer = int(np.argmax(logcnt.sum(axis=1) != replicas))
        raise InvalidOutput(f"layer {layer}: logcnt sums to {int(logcnt[layer].sum())}, not the {replicas} slots")
    counted = np.zeros((layers, experts), dtype=np.int64)
    np.add.at(counted, (np.arange(layers)[:, None], phy2log), 1)
    if not np.array_equal(counted, logcnt):
        layer = int(np.argmax((counted != logcnt).any(axis=1)))
        raise InvalidOutput(f"layer {layer}: logcnt disagrees with the replica counts in phy2log")
    if log2phy.shape[2] < logcnt.max():
        raise InvalidOutput(f"log2phy has {log2phy.shape[2]} columns but an expert has {logcnt.max()} replicas")

    # log2phy: row (layer, expert) lists exactly that expert's slots first, then -1 padding.
    column = np.arange(log2phy.shape[2])
    filled = column < logcnt[:, :, None]
    if (log2phy[~filled] != -1).any():
        raise InvalidOutput("log2phy has entries other than -1 beyond an expert's replica count")
    slots = log2phy[filled]
    if slots.size and (slots.min() < 0 or slots.max() >= replicas):
        raise InvalidOutput(f"log2phy holds slot ids outside [0, {replicas})")
    layer_of = np.broadcast_to(np.arange(layers)[:, None, None], log2phy.shape)[filled]
    expert_of = np.broadcast_to(np.arange(experts)[None, :, None], log2phy.shape)[filled]
    if (phy2log[layer_of, slots] != expert_of).any():
        raise InvalidOutput("log2phy and phy2log disagree: a slot is listed under an expert it does not hold")
    if np.unique(layer_of * replicas + slots).size != slots.size:
        raise InvalidOutput("log2phy lists the same slot twice")
    return phy2log, logcnt


def gpu_balancedness(phy2log: np.ndarray, logcnt: np.ndarray, load: np.ndarray, gpus: int) -> np.ndarray:
    """Per layer: mean GPU load / max GPU load, an expert's load split evenly over its replicas."""
    per_slot = np.take_along_axis(load, phy2log, 1) / np.take_along_axis(logcnt, phy2log, 1)
    gpu_load = per_slot.reshape(phy2log.shape[0], gpus, -1).sum(axis=2)
    peak = gpu_load.max(axis=1)
    return np.where(peak > 0, gpu_load.mean(axis=1) / np.where(peak > 0, peak, 1.0), 1.0)


def _call(candidate: Candidate, weight: np.ndarray, shape: Shape):
    started = time.perf_counter()
    reply = candidate.call(weight, shape.replicas, shape.groups, shape.nodes, shape.gpus, fn="rebalance")
    return reply, time.perf_counter() - started


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    shape = Shape()
    for _ in range(WARMUP_CALLS):  # untimed: first-call costs (lazy imports, allocator growth)
        validate(_call(candidate, warmup(), shape)[0], shape)
    runtimes, self_timed, scored, in_window, worst = [], [], [], [], []
    for workload in workloads(split):
        for i in range(len(workload.windows) - 1):
            reply, seconds = _call(candidate, workload.windows[i], shape)
            phy2log, logcnt = validate(reply, shape)
            runtimes.append(seconds)
            claimed = reply.get("self_timed_s")
            self_timed.append(float(claimed) if type(claimed) is float else float("nan"))
            nxt = gpu_balancedness(phy2log, logcnt, workload.windows[i + 1], shape.gpus)
            scored.append(nxt)
            in_window.append(gpu_balancedness(phy2log, logcnt, workload.windows[i], shape.gpus))
            worst += [(float(b), workload.seed, i, layer) for layer, b in enumerate(nxt)]
    balancedness = float(np.mean(scored))
    runtime = float(np.mean(runtimes))
    worst.sort()
    metrics = {
        "balancedness": balancedness,
        "balancedness_same_window": float(np.mean(in_window)),
        "balancedness_worst_layer": worst[0][0],
        "runtime_s": runtime,
        "runtime_ms": 1000.0 * runtime,
        "runtime_median_s": float(np.median(runtimes)),
        "runtime_max_s": float(np.max(runtimes)),
        "speed_score": adrs_score(0.0, runtime),
        # Reported by the candidate process itself: shows how much of runtime_s is the boundary
        # round trip. Informational only; a candidate could forge it, so nothing is scored on it.
        "runtime_in_candidate_s": float(np.mean(self_timed)),
        "calls": len(runtimes),
    }
    return {
        "score": adrs_score(balancedness, runtime),
        "metrics": metrics,
        "artifacts": {
            "worst_layers": [{"workload_seed": s, "mapped_on_window": i, "scored_on_window": i + 1, "layer": l,
                              "balancedness": round(b, 4)} for b, s, i, l in worst[:WORST_SHOWN]],
            "runtimes_ms": [round(1000.0 * t, 3) for t in runtimes],
        },
    }
