"""Trusted scorer for online bin packing (FunSearch protocol).

All instances of a split advance in lockstep: at step k every instance still running sends
its k-th item and its feasible bins to the candidate in one batched call. The candidate never
sees an item before it arrives. Every decision is checked; the final packing is re-verified.
"""
from __future__ import annotations

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput

from .instances import datasets, l1_bound


class _Packing:
    def __init__(self, name: str, instance: dict):
        self.name = name
        self.capacity = int(instance["capacity"])
        self.items = instance["items"]
        self.remaining = np.empty(0, dtype=np.int64)  # one entry per opened bin, in opening order
        self.assignment = np.full(len(self.items), -1, dtype=np.int64)

    def request(self, step: int):
        item = int(self.items[step])
        feasible = np.nonzero(self.remaining >= item)[0]
        self._feasible = feasible
        n_empty = len(self.items) - len(self.remaining)  # FunSearch pre-allocates one bin per item
        return [item, self.remaining[feasible], n_empty, self.capacity]

    def apply(self, step: int, choice) -> None:
        n_options = len(self._feasible) + len(self.items) - len(self.remaining)
        if type(choice) is not int or not 0 <= choice < n_options:
            raise InvalidOutput(f"{self.name}: step {step}: bin choice {choice!r} is not an index below {n_options}")
        item = int(self.items[step])
        if choice < len(self._feasible):
            target = int(self._feasible[choice])
        else:
            target = len(self.remaining)
            self.remaining = np.append(self.remaining, self.capacity)
        if self.remaining[target] < item:
            raise InvalidOutput(f"{self.name}: step {step}: item {item} does not fit bin {target}")
        self.remaining[target] -= item
        self.assignment[step] = target

    def verify(self) -> int:
        if (self.assignment < 0).any():
            raise InvalidOutput(f"{self.name}: some items were never placed")
        loads = np.bincount(self.assignment, weights=self.items, minlength=len(self.remaining))
        if (loads > self.capacity).any() or not np.array_equal(loads.astype(np.int64), self.capacity - self.remaining):
            raise InvalidOutput(f"{self.name}: packing check failed")
        return len(self.remaining)


def pack_all(candidate: Candidate, instances: dict[str, dict]) -> dict[str, int]:
    packings = [_Packing(name, inst) for name, inst in instances.items()]
    for step in range(max(len(p.items) for p in packings)):
        active = [p for p in packings if step < len(p.items)]
        choices = candidate.batch([p.request(step) for p in active], fn="choose_bin")
        for packing, choice in zip(active, choices):
            packing.apply(step, choice)
    return {p.name: p.verify() for p in packings}


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    metrics: dict[str, float] = {}
    excesses = []
    worst = []
    for family, instances in datasets(split).items():
        bins = pack_all(candidate, instances)
        mean_bins = float(np.mean(list(bins.values())))
        mean_l1 = float(np.mean([l1_bound(inst) for inst in instances.values()]))
        excess = 100.0 * (mean_bins - mean_l1) / mean_l1
        metrics[f"{family}_mean_bins"] = mean_bins
        metrics[f"{family}_excess_pct"] = excess
        excesses.append(excess)
        for name, used in bins.items():
            worst.append((100.0 * (used - l1_bound(instances[name])) / l1_bound(instances[name]), name, used))
    metrics["excess_pct"] = float(np.mean(excesses))
    worst.sort(reverse=True)
    return {
        "score": -metrics["excess_pct"],
        "metrics": metrics,
        "artifacts": {"worst_cases": [{"instance": n, "bins": b, "excess_pct": round(e, 3)} for e, n, b in worst[:3]]},
    }
