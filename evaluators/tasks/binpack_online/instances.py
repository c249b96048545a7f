"""Bin-packing instances: the published held-out sets (together or per family) and a seeded training set.

Training instances are drawn from the same distributions as the held-out sets:
  * OR-style: 500 integer items uniform on [20, 100], capacity 150 (OR-Library binpack3);
  * Weibull-style: 5000 items from Weibull(shape 3, scale 45), rounded and clipped to
    [1, 100], capacity 100 (the FunSearch Weibull generator).

The validation split (choosing what a campaign hands the user, never searched on) is drawn exactly
as train is, with its own seed: 20 OR-style + 6 Weibull-style instances of the same sizes.

Two small splits serve the campaign's economy (never reported):
  * stage: 10 OR-style instances and 3 Weibull-style instances of 1000 items (seeded apart from
    train): the cascade stage, about a quarter of a training evaluation's round trips;
  * probe: the inputs functional hashing runs a child on: short OR- and Weibull-style instances
    and edge cases (items that fill a bin exactly, half-bin pairs, tiny items, one repeated size,
    sizes sorted up and down), so heuristics that differ anywhere common tend to differ here.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
TRAIN_SEED = 20231214
TRAIN_OR_INSTANCES = 20
TRAIN_WEIBULL_INSTANCES = 6
VALIDATION_SEED = 20240919
STAGE_SEED = 20240917
PROBE_SEED = 20240918


def _published(filename: str) -> dict[str, dict]:
    raw = json.loads((DATA / filename).read_text())
    return {name: {"capacity": int(v["capacity"]), "items": np.asarray(v["items"], dtype=np.int64)}
            for name, v in raw.items()}


def or_like(rng: np.random.Generator, n_items: int = 500) -> dict:
    return {"capacity": 150, "items": rng.integers(20, 101, size=n_items, dtype=np.int64)}


def weibull_like(rng: np.random.Generator, n_items: int = 5000) -> dict:
    items = np.clip(np.round(rng.weibull(3.0, size=n_items) * 45.0), 1, 100).astype(np.int64)
    return {"capacity": 100, "items": items}


@functools.lru_cache(maxsize=None)
def datasets(split: str) -> dict[str, dict[str, dict]]:
    """{family: {instance name: {"capacity", "items"}}} for a split."""
    if split == "heldout":
        return {"or3": _published("or3.json"), "weibull_5k": _published("weibull_5k.json")}
    if split in ("or3", "weibull_5k"):  # one published family alone, as the paper reports them
        return {split: _published(f"{split}.json")}
    if split in ("train", "validation"):  # one generator, two seeds: validation is a second draw of train
        rng = np.random.default_rng(TRAIN_SEED if split == "train" else VALIDATION_SEED)
        prefix = "" if split == "train" else "validation_"
        return {
            "or": {f"{prefix}or_{i}": or_like(rng) for i in range(TRAIN_OR_INSTANCES)},
            "weibull": {f"{prefix}weibull_{i}": weibull_like(rng) for i in range(TRAIN_WEIBULL_INSTANCES)},
        }
    if split == "stage":
        rng = np.random.default_rng(STAGE_SEED)
        return {"or": {f"stage_or_{i}": or_like(rng) for i in range(10)},
                "weibull": {f"stage_weibull_{i}": weibull_like(rng, 1000) for i in range(3)}}
    if split == "probe":
        return _probe()
    raise KeyError(split)


def _probe() -> dict[str, dict[str, dict]]:
    rng = np.random.default_rng(PROBE_SEED)
    edges = {
        "fills_exactly": np.full(40, 150), "half_pairs": np.full(60, 75), "tiny": np.full(120, 1),
        "one_size": np.full(90, 37), "ascending": np.sort(rng.integers(20, 101, 120)),
        "descending": np.sort(rng.integers(20, 101, 120))[::-1],
        "mixed_edges": rng.permutation(np.concatenate([np.full(20, 150), np.full(40, 75), np.full(40, 1),
                                                       rng.integers(20, 101, 60)])),
    }
    return {
        "or": {f"probe_or_{i}": or_like(rng, 120) for i in range(4)},
        "weibull": {f"probe_weibull_{i}": weibull_like(rng, 300) for i in range(2)},
        "edge": {name: {"capacity": 150, "items": items.astype(np.int64)} for name, items in edges.items()},
    }


def l1_bound(instance: dict) -> int:
    return int(-(-int(instance["items"].sum()) // instance["capacity"]))
