"""The runs of each split, read from data/multi_region_aligned.tar.gz (spec §2, data README).

Every split evaluates the six region sets of the leaderboard (`GROUPS`, region 0 first). Run
(group, k) reads file k of every region of its group, from sample 0.

leaderboard: the published protocol, k = 0..K-1 with K = 8, 8, 6, 6, 4, 2 (34 runs).
train:       every group on 55 of the 69 train indices the data README proposes (330 runs).
validation:  every group on the other 14 (84 runs): every fifth of the README's train indices,
             starting with the third, so they spread over the whole period as train does. All 100
             indices are spoken for (leaderboard, README train, held-out, and 10 that overlap the
             held-out period), so validation is carved from the README's train set.
proposed_train: every group on all 69 (414 runs): the spec's §11 reference figures are on this set.
heldout:     every group on the 13 held-out indices (78 runs). Their windows lie in 2023-03-13..19
             and overlap no train or leaderboard window in time; 10 indices that overlap the
             held-out period are used by no split.
"""
from __future__ import annotations

import functools
import json
import tarfile
from pathlib import Path

import numpy as np

from .simulator import GAP_SECONDS, Run

DATA = Path(__file__).resolve().parent / "data"
ARCHIVE = DATA / "multi_region_aligned.tar.gz"
ROOT = "converted_multi_region_aligned"
SAMPLES = 1107

GROUPS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("2_zones_same_region", ("us-east-1a", "us-east-1c"), 8),
    ("2_regions_east_west", ("us-east-2a", "us-west-2a"), 8),
    ("3_regions_diverse", ("us-east-1a", "us-east-2b", "us-west-2c"), 6),
    ("3_zones_same_region", ("us-east-1a", "us-east-1c", "us-east-1d"), 6),
    ("5_regions_high_diversity", ("us-east-1a", "us-east-1f", "us-west-2a", "us-west-2b", "us-east-2b"), 4),
    ("all_9_regions", ("us-east-2a", "us-west-2c", "us-east-1d", "us-east-2b", "us-west-2a", "us-east-1f",
                       "us-east-1a", "us-west-2b", "us-east-1c"), 2),
)
GROUP_NAMES = tuple(g[0] for g in GROUPS)
SUFFIX = "_v100_1"


def _span(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


HELDOUT_INDICES = (9, 11, 16, 21, 23, 27, 29, 33, 50, 51, 65, 66, 99)
PROPOSED_TRAIN_INDICES = tuple([8, 10, *_span(12, 15), 19, 20, 22, *_span(24, 26), 28, 30, 31, *_span(34, 44),
                                *_span(46, 48), *_span(52, 57), *_span(59, 64), *_span(67, 76), *_span(78, 82), 85, 86,
                                *_span(88, 98)])
VALIDATION_INDICES = PROPOSED_TRAIN_INDICES[2::5]  # 12, 20, 28, 36, 41, 47, 55, 61, 68, 73, 79, 86, 92, 97
TRAIN_INDICES = tuple(k for k in PROPOSED_TRAIN_INDICES if k not in VALIDATION_INDICES)
UNUSED_INDICES = (17, 18, 32, 45, 49, 58, 77, 83, 84, 87)


@functools.lru_cache(maxsize=1)
def traces() -> dict[tuple[str, int], tuple[np.ndarray, float]]:
    """(region without suffix, index) -> (availability int8 [1107], prices[0]). Reads the archive once."""
    out = {}
    with tarfile.open(ARCHIVE) as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or parts[-1].startswith("._") or len(parts) != 3 or parts[0] != ROOT:
                continue
            raw = json.loads(archive.extractfile(member).read())
            region, index = parts[1].removesuffix(SUFFIX), int(parts[2].removesuffix(".json"))
            if raw["metadata"]["gap_seconds"] != GAP_SECONDS or len(raw["data"]) != SAMPLES:
                raise ValueError(f"{ARCHIVE.name}:{member.name}: expected {SAMPLES} samples of {GAP_SECONDS} s")
            out[region, index] = (np.asarray(raw["data"], dtype=np.int8), float(raw["prices"][0]))
    return out


def run(group: str, k: int) -> Run:
    """Run (group, k): file k of every region of the group, region order as in GROUPS."""
    regions = dict((g[0], g[1]) for g in GROUPS)[group]
    data = traces()
    return Run(name=f"{group} k={k}", availability=np.stack([data[r, k][0] for r in regions]),
               prices=np.array([data[r, k][1] for r in regions]),
               info={"group": group, "k": k, "regions": [r + SUFFIX for r in regions]})


@functools.lru_cache(maxsize=None)
def leaderboard() -> tuple[Run, ...]:
    return tuple(run(name, k) for name, _, count in GROUPS for k in range(count))


@functools.lru_cache(maxsize=None)
def train() -> tuple[Run, ...]:
    return tuple(run(name, k) for name, _, _ in GROUPS for k in TRAIN_INDICES)


@functools.lru_cache(maxsize=None)
def validation() -> tuple[Run, ...]:
    return tuple(run(name, k) for name, _, _ in GROUPS for k in VALIDATION_INDICES)


@functools.lru_cache(maxsize=None)
def proposed_train() -> tuple[Run, ...]:
    return tuple(run(name, k) for name, _, _ in GROUPS for k in PROPOSED_TRAIN_INDICES)


@functools.lru_cache(maxsize=None)
def heldout() -> tuple[Run, ...]:
    return tuple(run(name, k) for name, _, _ in GROUPS for k in HELDOUT_INDICES)


SPLITS = {"leaderboard": leaderboard, "train": train, "validation": validation, "heldout": heldout,
          "proposed_train": proposed_train}


def run_set(split: str) -> tuple[Run, ...]:
    if split not in SPLITS:
        raise ValueError(f"spot_multi_region has no split {split!r}; splits: {', '.join(SPLITS)}")
    return SPLITS[split]()
