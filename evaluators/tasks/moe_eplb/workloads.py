"""Seeded synthetic expert-load workloads for moe_eplb.

A workload is a sequence of time windows; window w holds `weight[w]`, the number of routed
token-slots each logical expert of each MoE layer received, shape [LAYERS, EXPERTS]. The model
shape is DeepSeek-V3's (58 MoE layers, 256 routed experts in 8 groups, top-8 routing) on
4 nodes x 8 GPUs with 32 redundant slots (288 physical experts).

Per layer, an expert's routing logit is the sum of
  * a static skew: N(0, sigma_l^2) with sigma_l ~ U(0.4, 1.0) drawn per layer, so every layer
    has its own hot experts and its own degree of imbalance;
  * a static group bias N(0, 0.3^2) shared by the 32 experts of a group (group-limited routing
    makes whole groups hot or cold);
  * a drift term, an AR(1) process per expert: d_w = 0.85 d_{w-1} + N(0, 0.2^2), so popularity
    wanders from window to window;
  * bursts: in each (layer, window) with probability 0.1, 1-3 random experts get + ln U(3, 6)
    for that window only (a transient spike that the next window does not repeat).
Loads are multinomial samples of TOKENS x TOP_K token-slots from softmax(logits).

A mapping computed on window i is scored on window i+1. Train, validation (a second draw of
train: as many workloads, other seeds) and held-out workloads come from disjoint seeds; one
extra workload (seed WARMUP_SEED) provides the untimed warm-up call.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

LAYERS = 58
EXPERTS = 256
GROUPS = 8
REPLICAS = 288
NODES = 4
GPUS = 32
TOKENS = 16384
TOP_K = 8

SKEW_SIGMA = (0.4, 1.0)
GROUP_SIGMA = 0.3
DRIFT_RHO = 0.85
DRIFT_SIGMA = 0.2
BURST_P = 0.1
BURST_EXPERTS = (1, 3)
BURST_FACTOR = (3.0, 6.0)

SEEDS = {"train": (101, 102, 103), "validation": (201, 202, 203), "heldout": (9001, 9002, 9003, 9004)}
WINDOWS = 6          # per workload, so 5 scored transitions
WARMUP_SEED = 7


@dataclasses.dataclass(frozen=True)
class Shape:
    layers: int = LAYERS
    experts: int = EXPERTS
    groups: int = GROUPS
    replicas: int = REPLICAS
    nodes: int = NODES
    gpus: int = GPUS

    def check(self) -> None:
        if self.experts % self.groups or self.replicas % self.gpus or self.gpus % self.nodes \
                or self.replicas < self.experts:
            raise ValueError(f"inconsistent EPLB shape {self}")


@dataclasses.dataclass(frozen=True)
class Workload:
    seed: int
    windows: np.ndarray  # [windows, layers, experts] float32 token-slot counts


def generate(seed: int, windows: int = WINDOWS, shape: Shape = Shape(), tokens: int = TOKENS) -> Workload:
    shape.check()
    rng = np.random.default_rng(seed)
    layers, experts = shape.layers, shape.experts
    sigma = rng.uniform(*SKEW_SIGMA, size=(layers, 1))
    static = rng.normal(0.0, 1.0, size=(layers, experts)) * sigma
    static += np.repeat(rng.normal(0.0, GROUP_SIGMA, size=(layers, shape.groups)), experts // shape.groups, axis=1)
    drift = np.zeros((layers, experts))
    out = np.empty((windows, layers, experts), dtype=np.float32)
    for w in range(windows):
        drift = DRIFT_RHO * drift + rng.normal(0.0, DRIFT_SIGMA, size=(layers, experts))
        logits = static + drift
        for layer in np.nonzero(rng.random(layers) < BURST_P)[0]:
            hot = rng.choice(experts, size=rng.integers(BURST_EXPERTS[0], BURST_EXPERTS[1] + 1), replace=False)
            logits[layer, hot] += np.log(rng.uniform(*BURST_FACTOR, size=hot.size))
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        out[w] = rng.multinomial(tokens * TOP_K, p)
    return Workload(seed=seed, windows=out)


@functools.lru_cache(maxsize=None)
def workloads(split: str) -> tuple[Workload, ...]:
    if split not in SEEDS:
        raise ValueError(f"moe_eplb has no split {split!r}; splits: {', '.join(SEEDS)}")
    return tuple(generate(seed) for seed in SEEDS[split])


@functools.lru_cache(maxsize=None)
def warmup() -> np.ndarray:
    return generate(WARMUP_SEED, windows=1).windows[0]
