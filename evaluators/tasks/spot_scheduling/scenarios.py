"""The scenario sets of each split, built from the single-region traces in data/.

leaderboard / heldout: the exact 1080 scenarios of data/scenarios_cant_be_late.json
    (2 deadlines x 3 overheads x 6 envs x 30 windows; spec §2).
train: the same grid over 30 *other* windows of the same six traces. Window starts are drawn
    without replacement, with numpy's default_rng(TRAIN_SEED), from every start index in
    [0, 1781 - 554] that the leaderboard does not use; windows are 554 ticks long like the
    leaderboard's. The windows necessarily overlap leaderboard windows in time (a 554-tick
    window covers 31 % of a trace), but no train scenario equals a leaderboard scenario.
validation: the same grid over 30 further windows, drawn as train's with default_rng(VALIDATION_SEED)
    from the start indices that neither the leaderboard nor train uses: a second draw of the
    training distribution, which chooses what a campaign hands over.
stage: the train scenarios of the first STAGE_WINDOWS train windows (a sixth of train): the
    cascade stage a child passes before its full training evaluation.
probe: the inputs functional hashing runs a child on: a 12 h job on 20 h windows (the first train
    window of each env, and synthetic edge traces: spot always up, never up, flapping every tick,
    flapping in hour blocks, up only for the first 6 h) at both deadline ratios, largest overhead.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from .simulator import Scenario

DATA = Path(__file__).resolve().parent / "data"
MANIFEST = DATA / "scenarios_cant_be_late.json"
ENVS = ("us-west-2a_k80_8", "us-west-2b_k80_1", "us-west-2b_k80_8",
        "us-west-2a_v100_1", "us-west-2a_v100_8", "us-west-2b_v100_1")
DEADLINES_H = (52, 70)
OVERHEADS_H = (0.02, 0.05, 0.1)
TASK_H = 48
WINDOW = 554
TRAIN_SEED = 20240705
TRAIN_WINDOWS = 30
VALIDATION_SEED = 20240706
VALIDATION_WINDOWS = 30


@functools.lru_cache(maxsize=None)
def _trace(relative: str) -> np.ndarray:
    raw = json.loads((DATA / relative).read_text())
    if raw.get("metadata", {}).get("gap_seconds") != 600:
        raise ValueError(f"{relative}: expected gap_seconds 600")
    return np.asarray(raw["data"], dtype=np.int8)


def _scenario(name: str, env: str, trace_file: str, start: int, deadline_h: float, overhead_h: float,
              **info) -> Scenario:
    window = _trace(trace_file)[start:start + WINDOW]
    if len(window) != WINDOW:
        raise ValueError(f"{name}: window [{start}, {start + WINDOW}) runs past the end of {trace_file}")
    return Scenario(name=name, availability=window, task_seconds=TASK_H * 3600.0,
                    deadline_seconds=deadline_h * 3600.0, overhead_seconds=overhead_h * 3600.0,
                    info={"env": env, "start_index": start, "deadline_hours": deadline_h,
                          "overhead_hours": overhead_h, **info})


@functools.lru_cache(maxsize=None)
def leaderboard() -> tuple[Scenario, ...]:
    manifest = json.loads(MANIFEST.read_text())
    out = []
    for index, row in enumerate(manifest["scenarios"]):
        if row["length"] != WINDOW or row["task_hours"] != TASK_H:
            raise ValueError(f"manifest row {index}: unexpected length or task hours")
        window = row["window_file"].rsplit("/", 1)[-1].removesuffix(".json")
        out.append(_scenario(f"#{index} {row['env']} w{window} {row['deadline_hours']}h/{row['restart_overhead_hours']}h",
                             row["env"], row["trace_file"], int(row["start_index"]),
                             row["deadline_hours"], row["restart_overhead_hours"], index=index, window=window))
    if len(out) != 1080:
        raise ValueError(f"{MANIFEST.name} lists {len(out)} scenarios; expected 1080")
    return tuple(out)


def _free_starts(taken: set[int]) -> np.ndarray:
    last = len(_trace(f"single_region/{ENVS[0]}.json")) - WINDOW
    return np.array([s for s in range(0, last + 1) if s not in taken])


def train_starts() -> list[int]:
    pool = _free_starts({s.info["start_index"] for s in leaderboard()})
    return sorted(int(s) for s in np.random.default_rng(TRAIN_SEED).choice(pool, TRAIN_WINDOWS, replace=False))


def validation_starts() -> list[int]:
    pool = _free_starts({s.info["start_index"] for s in leaderboard()} | set(train_starts()))
    return sorted(int(s) for s in
                  np.random.default_rng(VALIDATION_SEED).choice(pool, VALIDATION_WINDOWS, replace=False))


def _grid(label: str, starts: list[int]) -> tuple[Scenario, ...]:
    out = []
    for deadline in DEADLINES_H:
        for overhead in OVERHEADS_H:
            for env in ENVS:
                for start in starts:
                    out.append(_scenario(f"{label} {env} s{start} {deadline}h/{overhead}h", env,
                                         f"single_region/{env}.json", start, deadline, overhead, window=f"s{start}"))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def train() -> tuple[Scenario, ...]:
    return _grid("train", train_starts())


@functools.lru_cache(maxsize=None)
def validation() -> tuple[Scenario, ...]:
    return _grid("validation", validation_starts())


STAGE_WINDOWS = 5


@functools.lru_cache(maxsize=None)
def stage() -> tuple[Scenario, ...]:
    first = set(train_starts()[:STAGE_WINDOWS])
    return tuple(s for s in train() if s.info["start_index"] in first)


PROBE_TICKS = 120      # 20 h windows: a probe run costs a fifth of the round trips of a training run
PROBE_TASK_H = 12.0    # deadlines keep the train ratios 52/48 and 70/48


def _edge_traces(ticks: int) -> dict[str, np.ndarray]:
    tick = np.arange(ticks)
    return {"always_up": np.zeros(ticks, np.int8), "never_up": np.ones(ticks, np.int8),
            "flapping": (tick % 2).astype(np.int8), "hour_blocks": ((tick // 6) % 2).astype(np.int8),
            "first_hours_only": (tick >= 36).astype(np.int8)}


@functools.lru_cache(maxsize=None)
def probe() -> tuple[Scenario, ...]:
    overhead = max(OVERHEADS_H)
    start = train_starts()[0]
    traces = {env: _trace(f"single_region/{env}.json")[start:start + PROBE_TICKS] for env in ENVS}
    traces.update(_edge_traces(PROBE_TICKS))
    out = []
    for name, availability in traces.items():
        for deadline_h in DEADLINES_H:
            deadline = PROBE_TASK_H * deadline_h / TASK_H
            out.append(Scenario(name=f"probe {name} {deadline:g}h/{overhead}h", availability=availability,
                                task_seconds=PROBE_TASK_H * 3600.0, deadline_seconds=deadline * 3600.0,
                                overhead_seconds=overhead * 3600.0,
                                info={"env": name, "deadline_hours": deadline_h, "overhead_hours": overhead}))
    return tuple(out)


SPLITS = {"leaderboard": leaderboard, "heldout": leaderboard, "train": train, "validation": validation, "stage": stage,
          "probe": probe}


def scenario_set(split: str) -> tuple[Scenario, ...]:
    if split not in SPLITS:
        raise ValueError(f"spot_scheduling has no split {split!r}; splits: {', '.join(SPLITS)}")
    return SPLITS[split]()
