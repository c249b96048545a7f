"""Trusted scorer for online bin packing, packing exactly as FunSearch's loop does.

FunSearch allocates one bin per item (all at full capacity) and, for each arriving item, calls
`priority(item, bins[valid])` where `valid` are the indices of every bin the item fits, in
index order, empty bins included wherever they stand; the item goes to `valid[argmax]`. The
number of bins used is the count of bins no longer at full capacity. Here the scorer keeps
that array; the candidate gets a compact description of it (see adapter.py) and rebuilds it.

All instances of a split advance in lockstep: at step k every instance still running sends
its k-th item in one batched call. The candidate never sees an item before it arrives. Every
decision is checked; the final packing is re-verified.
"""
from __future__ import annotations

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput

from .instances import datasets, l1_bound


def used_runs(used: np.ndarray) -> np.ndarray:
    """[start0, stop0, start1, stop1, ...] of the runs of True in a boolean array."""
    edges = np.diff(np.concatenate(([0], used.view(np.int8), [0])))
    return np.stack([np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]], axis=1).ravel()


def _smallest_int(bound: int):
    """The narrowest integer dtype holding 0..bound: the wire carries arrays as raw bytes (base64)."""
    return next(t for t in (np.int16, np.int32, np.int64) if bound <= np.iinfo(t).max)


class Packing:
    """One instance's state: FunSearch's `bins` array (remaining capacity, one bin per item)."""

    def __init__(self, name: str, instance: dict):
        self.name = name
        self.capacity = int(instance["capacity"])
        self.items = instance["items"]
        self.bins = np.full(len(self.items), self.capacity, dtype=np.int64)
        self.assignment = np.full(len(self.items), -1, dtype=np.int64)
        self._used = np.zeros(len(self.items), dtype=bool)  # FunSearch's `bins != capacity`
        self._n_used = 0
        self._top = 0  # one past the highest used position: every bin from here on is empty
        self._wire_dtype = _smallest_int(max(len(self.bins), self.capacity))

    def request(self, step: int) -> list:
        """Arguments of the adapter's choose_bin: the item, the capacity, the number of bins, one
        past the highest used position, the remaining capacity of the used bins the item fits
        (in index order) and, only when empty bins stand between used ones, one flat integer
        array [number of used runs, run starts and stops..., positions of those fitting bins...]."""
        item = int(self.items[step])
        head = self.bins[:self._top]
        self._valid_head = valid = np.nonzero(head >= item)[0]
        if self._n_used == self._top:  # no gaps: the used bins are exactly positions [0, top)
            return [item, self.capacity, len(self.bins), self._top, head[valid]]
        used = self._used[:self._top]
        fit, runs = valid[used[valid]], used_runs(used)
        gaps = np.concatenate(([len(runs) // 2], runs, fit)).astype(self._wire_dtype)
        return [item, self.capacity, len(self.bins), self._top, head[fit], gaps]

    def apply(self, step: int, choice) -> None:
        n_options = len(self._valid_head) + len(self.bins) - self._top
        if type(choice) is not int or not 0 <= choice < n_options:
            raise InvalidOutput(f"{self.name}: step {step}: bin choice {choice!r} is not an index below {n_options}")
        head = len(self._valid_head)
        target = int(self._valid_head[choice]) if choice < head else self._top + choice - head
        item = int(self.items[step])
        if self.bins[target] < item:
            raise InvalidOutput(f"{self.name}: step {step}: item {item} does not fit bin {target}")
        self.bins[target] -= item
        self.assignment[step] = target
        if not self._used[target] and self.bins[target] != self.capacity:
            self._used[target] = True
            self._n_used += 1
            self._top = max(self._top, target + 1)

    def verify(self) -> int:
        """Re-check the whole packing; return the number of bins used."""
        if (self.assignment < 0).any():
            raise InvalidOutput(f"{self.name}: some items were never placed")
        loads = np.bincount(self.assignment, weights=self.items, minlength=len(self.bins)).astype(np.int64)
        if (self.bins < 0).any() or not np.array_equal(loads, self.capacity - self.bins):
            raise InvalidOutput(f"{self.name}: packing check failed")
        return int((self.bins != self.capacity).sum())


def pack_all(candidate: Candidate, instances: dict[str, dict]) -> dict[str, Packing]:
    packings = [Packing(name, inst) for name, inst in instances.items()]
    for step in range(max(len(p.items) for p in packings)):
        active = [p for p in packings if step < len(p.items)]
        choices = candidate.batch([p.request(step) for p in active], fn="choose_bin")
        for packing, choice in zip(active, choices):
            packing.apply(step, choice)
    return {p.name: p for p in packings}


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    metrics: dict[str, float] = {}
    excesses = []
    worst = []
    for family, instances in datasets(split).items():
        bins = {name: p.verify() for name, p in pack_all(candidate, instances).items()}
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
