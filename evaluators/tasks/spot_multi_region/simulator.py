"""Lockstep simulator for multi-region spot scheduling (ADRS leaderboard `cant_be_late_multi`).

Written from shared/docs/spot_multi_region_spec.md; section numbers below refer to it. The
settle rule and the harness guard are the single-region ones (imported from spot_scheduling).
All runs of a batch advance tick by tick together; at each tick the runs still being consulted
are described to `decide` as column arrays, and it returns one (region, action) per run. Only
tick t's availability is ever passed to `decide`; prices never are.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from evaluators.tasks.spot_scheduling.simulator import (ACTIONS, DONE_EPS, NONE, ON_DEMAND, ON_DEMAND_PRICE, SPOT,
                                                  SimulationError, harness_guard, settle)

__all__ = ["ACTIONS", "NONE", "ON_DEMAND", "SPOT", "MAX_REGIONS", "Outcome", "Run", "SimulationError", "simulate"]

MAX_REGIONS = 9
# §2 constants: C = 48 h, D = 52 h (= 960 ticks of 195 s), O = 0.2 h.
TASK_SECONDS = 48 * 3600.0
DEADLINE_SECONDS = 52 * 3600.0
OVERHEAD_SECONDS = 0.2 * 3600
GAP_SECONDS = 195


@dataclasses.dataclass(frozen=True)
class Run:
    """One run: `availability[i, t]` for region i (1 = spot NOT usable during tick t) and the
    spot price `prices[i]` ($/h, the trace file's prices[0]); the job starts in region 0."""
    name: str
    availability: np.ndarray
    prices: np.ndarray
    task_seconds: float = TASK_SECONDS
    deadline_seconds: float = DEADLINE_SECONDS
    overhead_seconds: float = OVERHEAD_SECONDS
    gap_seconds: int = GAP_SECONDS
    info: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def regions(self) -> int:
        return int(self.availability.shape[0])

    def config(self) -> dict:
        """What the policy is told once, when it is created (all plain data)."""
        return {"task_duration": self.task_seconds, "deadline": self.deadline_seconds,
                "restart_overhead": self.overhead_seconds, "gap_seconds": self.gap_seconds,
                "num_regions": self.regions}


@dataclasses.dataclass
class Outcome:
    """Per-run results, arrays aligned with the run list."""
    cost: np.ndarray
    finish_tick: np.ndarray     # T, the tick at which the work was found done
    billing_region: np.ndarray  # r' of tick T: its price bills every spot tick (§6)
    spot_ticks: np.ndarray
    od_ticks: np.ndarray
    idle_ticks: np.ndarray
    launches: np.ndarray        # ticks that (re)started an instance and paid the overhead
    moves: np.ndarray           # ticks before T at which the policy changed region
    overridden: np.ndarray      # ticks before T at which the harness guard replaced the proposal
    late: np.ndarray
    actions: np.ndarray         # act[t] for t < T (runs x ticks, action codes; NONE after T)
    regions: np.ndarray         # the region act[t] ran in (r' of tick t), for t < T


Decide = Callable[[int, np.ndarray, dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


def _stack(runs: list[Run]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.array([r.availability.shape[1] for r in runs])
    trace = np.ones((len(runs), MAX_REGIONS, int(lengths.max())), dtype=np.int8)
    prices = np.zeros((len(runs), MAX_REGIONS))
    regions = np.array([r.regions for r in runs])
    for i, r in enumerate(runs):
        if not 1 <= r.regions <= MAX_REGIONS or r.prices.shape != (r.regions,):
            raise ValueError(f"run {r.name}: needs 1 to {MAX_REGIONS} regions and one price per region")
        trace[i, :r.regions, :lengths[i]] = r.availability
        prices[i, :r.regions] = r.prices
    return trace, prices, regions, lengths


def _column(runs: list[Run], field: str) -> np.ndarray:
    return np.array([getattr(r, field) for r in runs], dtype=np.float64)


def simulate(runs: list[Run], decide: Decide) -> Outcome:
    """Run every run to completion (§5). `decide(tick, live, obs) -> (regions, actions)` is called
    once per tick with the indices of the runs consulted at that tick and their observation
    columns (§4): region, has_spot, spot_all (live x 9 bools; only the first num_regions count),
    last_cluster_type, cluster_type, progress (the log entry appended at this tick), work_done,
    remaining_restart_overhead. A run is consulted up to its finishing tick T and once more at
    T + 1, whose answer is discarded (§5.9)."""
    n = len(runs)
    if n == 0:
        raise ValueError("simulate needs at least one run")
    trace, prices, n_regions, lengths = _stack(runs)
    gap = _column(runs, "gap_seconds")
    task = _column(runs, "task_seconds")
    deadline = _column(runs, "deadline_seconds")
    overhead = _column(runs, "overhead_seconds")

    done = np.zeros(n)
    pending = np.zeros(n)
    prev = np.full(n, NONE, dtype=np.int8)
    region = np.zeros(n, dtype=np.int64)
    history = np.full((n, trace.shape[2]), NONE, dtype=np.int8)  # act[t] for t < T
    where = np.zeros((n, trace.shape[2]), dtype=np.int8)         # r' of tick t, for t < T
    finish = np.full(n, -1, dtype=np.int64)
    billing = np.full(n, -1, dtype=np.int64)
    launches = np.zeros(n, dtype=np.int64)
    moves = np.zeros(n, dtype=np.int64)
    overridden = np.zeros(n, dtype=np.int64)
    live = np.arange(n)

    t = 0
    while live.size:
        past = t >= lengths[live]
        if past.any():
            i = int(live[past][0])
            raise SimulationError(f"run {runs[i].name}: tick {t} reads past the last sample ({lengths[i] - 1}) "
                                  f"of its traces with {task[i] - done[i]:g} s of work left")
        # §5.1 observe in r, the region act[t-1] ran in; §5.2 settle [t-1, t) with prev.
        r = region[live]
        h = trace[live, r, t] == 0
        p = prev[live]
        progress, pending[live] = settle(p != NONE, pending[live], done[live], gap[live], task[live])
        done[live] += progress
        running = np.where((p == SPOT) & ~h, NONE, p).astype(np.int8)

        # §5.3 finished? The policy is still consulted at T (its region fixes the price) and at T + 1.
        after = finish[live] >= 0          # this is the T + 1 consultation
        at_end = ~after & (task[live] - done[live] <= DONE_EPS)
        finish[live[at_end]] = t

        obs = {"region": r.copy(), "has_spot": h, "spot_all": trace[live, :, t] == 0, "last_cluster_type": p,
               "cluster_type": running, "progress": progress, "work_done": done[live].copy(),
               "remaining_restart_overhead": pending[live].copy()}
        moved_to, proposal = decide(t, live, obs)
        moved_to, proposal = np.asarray(moved_to), np.asarray(proposal)
        if proposal.shape != live.shape or not np.isin(proposal, (NONE, SPOT, ON_DEMAND)).all():
            raise SimulationError(f"tick {t}: decide returned actions {proposal!r}; expected {live.size} action codes")
        bad = (moved_to.shape != live.shape) or ((moved_to < 0) | (moved_to >= n_regions[live])).any()
        if bad:
            raise SimulationError(f"tick {t}: decide returned regions {moved_to!r} outside each run's 0..n-1")
        moved_to = moved_to.astype(np.int64)

        # §5.4 guard (never changes the region); §5.5 availability in r'; §5.6 overhead, using running from r.
        decision = harness_guard(proposal, t, p, pending[live], task[live] - done[live],
                                 gap[live], deadline[live], overhead[live])
        guarded = decision != proposal
        decision[(decision == SPOT) & (trace[live, moved_to, t] == 1)] = NONE
        relaunch = (decision != NONE) & (decision != running)

        # The T + 1 answer is discarded: those runs leave the batch untouched.
        keep = ~after
        k = live[keep]
        pending[k[relaunch[keep]]] = overhead[k[relaunch[keep]]]
        billed = keep & ~at_end            # act[t] for t < T is billed
        b = live[billed]
        history[b, t] = decision[billed]
        where[b, t] = moved_to[billed]
        launches[b] += relaunch[billed]
        moves[b] += moved_to[billed] != r[billed]
        overridden[b] += guarded[billed]
        billing[live[at_end]] = moved_to[at_end]

        # §5.7 advance.
        prev[k] = decision[keep]
        region[k] = moved_to[keep]
        live = live[keep]
        t += 1

    # §6: one spot price per run, of the region current after the policy's call at T; per-tick terms
    # price * gap / 3600 summed in tick order (np.add.accumulate is sequential, unlike np.sum).
    spot_price = prices[np.arange(n), billing]
    price = np.where(history == SPOT, spot_price[:, None], np.where(history == ON_DEMAND, ON_DEMAND_PRICE, 0.0))
    terms = np.concatenate([np.zeros((n, 1)), price * gap[:, None] / 3600.0], axis=1)
    cost = np.add.accumulate(terms, axis=1)[:, -1]
    spot_ticks = (history == SPOT).sum(axis=1)
    od_ticks = (history == ON_DEMAND).sum(axis=1)
    return Outcome(cost=cost, finish_tick=finish, billing_region=billing, spot_ticks=spot_ticks, od_ticks=od_ticks,
                   idle_ticks=finish - spot_ticks - od_ticks, launches=launches, moves=moves, overridden=overridden,
                   late=finish * gap > deadline, actions=history, regions=where)
