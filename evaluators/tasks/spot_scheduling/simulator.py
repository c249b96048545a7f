"""Lockstep simulator for single-region spot scheduling ("Can't Be Late", ADRS leaderboard).

Written from shared/docs/spot_scheduling_spec.md §3-§5; section numbers below refer to it.
All scenarios of a batch advance tick by tick together; at each tick the still-running
scenarios are described to `decide` as column arrays and it returns one proposal per scenario.
Only the current tick's availability is ever passed to `decide`.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

NONE, SPOT, ON_DEMAND = 0, 1, 2
ACTIONS = ("NONE", "SPOT", "ON_DEMAND")

# §5: every device is billed at the 1xV100 price; spot = on-demand / (3.06 / 0.9731).
ON_DEMAND_PRICE = 3.06
SPOT_PRICE = 0.9731
PENDING_EPS = 1e-3      # §4.1 / §4.4: pending overhead below this counts as zero
DONE_EPS = 1e-8         # §4.2: the job is finished when C - done <= this
REMAINING_EPS = 1e-3    # §4.4: the guard only acts while more than this is left


class SimulationError(Exception):
    """A scenario could not be simulated to completion (spec §2: the whole evaluation fails)."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One run: a policy on `availability` (1 = spot NOT usable in that tick), times in seconds."""
    name: str
    availability: np.ndarray
    task_seconds: float
    deadline_seconds: float
    overhead_seconds: float
    gap_seconds: float = 600.0
    info: dict = dataclasses.field(default_factory=dict, compare=False)

    def config(self) -> dict:
        """What the policy is told once, when it is created (all plain data)."""
        return {"task_duration": self.task_seconds, "deadline": self.deadline_seconds,
                "restart_overhead": self.overhead_seconds, "gap_seconds": self.gap_seconds}


@dataclasses.dataclass
class Outcome:
    """Per-scenario results, arrays aligned with the scenario list."""
    cost: np.ndarray
    finish_tick: np.ndarray
    spot_ticks: np.ndarray
    od_ticks: np.ndarray
    idle_ticks: np.ndarray
    late: np.ndarray
    overridden: np.ndarray  # ticks where the harness guard replaced the policy's proposal


Decide = Callable[[int, np.ndarray, dict[str, np.ndarray]], np.ndarray]


def _column(scenarios: list[Scenario], field: str) -> np.ndarray:
    return np.array([getattr(s, field) for s in scenarios], dtype=np.float64)


def settle(ran: np.ndarray, pending: np.ndarray, done: np.ndarray, gap: np.ndarray,
           task: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """§4.1: settle the interval just ended. Returns (useful seconds, new pending overhead); where
    nothing ran (`ran` false) the progress is 0 and the pending overhead is left unchanged.
    Shared with spot_multi_region, whose spec §5.2 states the same rule."""
    useful = np.maximum(gap - pending, 0.0)
    new_pending = pending - (gap - useful)
    new_pending[new_pending < PENDING_EPS] = 0.0
    useful = np.minimum(useful, task - done)
    return np.where(ran, useful, 0.0), np.where(ran, new_pending, pending)


def harness_guard(proposal: np.ndarray, t: int, prev: np.ndarray, pending: np.ndarray, remaining: np.ndarray,
                  gap: np.ndarray, deadline: np.ndarray, overhead: np.ndarray) -> np.ndarray:
    """§4.4: the harness's deadline guard, overriding the proposal in both directions. It uses the
    full overhead O (not what is pending) and keeps a spot instance only once past its overhead.
    Shared with spot_multi_region (its spec §5.4)."""
    slots_left = np.floor((deadline - t * gap) / gap) * gap
    slots_need = np.ceil((remaining + overhead) / gap) * gap
    fire = (remaining > REMAINING_EPS) & (slots_need >= slots_left)
    keep_spot = (prev == SPOT) & (pending < PENDING_EPS)
    return np.where(fire, np.where(keep_spot, SPOT, ON_DEMAND), proposal).astype(np.int8)


def simulate(scenarios: list[Scenario], decide: Decide) -> Outcome:
    """Run every scenario to completion. `decide(tick, active, obs) -> proposals` is called once
    per tick with the indices of the running scenarios and their observation columns:
    has_spot (bool), last_cluster_type and cluster_type (action codes), work_done and
    remaining_restart_overhead (seconds). It must return one action code per active scenario."""
    n = len(scenarios)
    if n == 0:
        raise ValueError("simulate needs at least one scenario")
    gap = _column(scenarios, "gap_seconds")
    task = _column(scenarios, "task_seconds")
    deadline = _column(scenarios, "deadline_seconds")
    overhead = _column(scenarios, "overhead_seconds")
    lengths = np.array([len(s.availability) for s in scenarios])
    trace = np.ones((n, int(lengths.max())), dtype=np.int8)
    for i, s in enumerate(scenarios):
        trace[i, :lengths[i]] = s.availability

    done = np.zeros(n)
    pending = np.zeros(n)
    prev = np.full(n, NONE, dtype=np.int8)
    spot_ticks = np.zeros(n, dtype=np.int64)
    od_ticks = np.zeros(n, dtype=np.int64)
    idle_ticks = np.zeros(n, dtype=np.int64)
    overridden = np.zeros(n, dtype=np.int64)
    finish = np.full(n, -1, dtype=np.int64)
    active = np.arange(n)

    t = 0
    while active.size:
        # §4.1 settle [t-1, t), run with prev; a full tick is billed whatever happened in it.
        p = prev[active]
        useful, pending[active] = settle(p != NONE, pending[active], done[active], gap[active], task[active])
        done[active] += useful
        spot_ticks[active] += p == SPOT
        od_ticks[active] += p == ON_DEMAND
        idle_ticks[active] += (p == NONE) & (t > 0)

        # §4.2 termination; upstream also reads a[T+1], so T + 1 must lie inside the window.
        finished = task[active] - done[active] <= DONE_EPS
        if (t + 1 >= lengths[active]).any():
            i = int(active[t + 1 >= lengths[active]][0])
            raise SimulationError(f"scenario {scenarios[i].name}: trace window of {lengths[i]} ticks "
                                  f"exhausted at tick {t} with {task[i] - done[i]:g} s of work left")
        finish[active[finished]] = t
        active = active[~finished]
        if not active.size:
            break

        # §4.3 observation and proposal.
        unavailable = trace[active, t] == 1
        p = prev[active]
        running = np.where((p == SPOT) & unavailable, NONE, p).astype(np.int8)
        obs = {"has_spot": ~unavailable, "last_cluster_type": p, "cluster_type": running,
               "work_done": done[active].copy(), "remaining_restart_overhead": pending[active].copy()}
        proposal = np.asarray(decide(t, active, obs))
        if proposal.shape != active.shape or not np.isin(proposal, (NONE, SPOT, ON_DEMAND)).all():
            raise SimulationError(f"decide returned {proposal!r}; expected {active.size} action codes")

        # §4.4 harness guard: overrides the policy in both directions.
        decision = harness_guard(proposal, t, p, pending[active], task[active] - done[active],
                                 gap[active], deadline[active], overhead[active])
        overridden[active] += decision != proposal

        # §4.5 unavailable spot silently idles; §4.6 every (re)launch sets the overhead.
        decision[(decision == SPOT) & unavailable] = NONE
        relaunch = (decision != NONE) & (decision != running)
        pending[active[relaunch]] = overhead[active[relaunch]]

        # §4.7 advance.
        prev[active] = decision
        t += 1

    cost = (spot_ticks * SPOT_PRICE + od_ticks * ON_DEMAND_PRICE) * gap / 3600.0
    late = finish * gap > deadline
    return Outcome(cost=cost, finish_tick=finish, spot_ticks=spot_ticks, od_ticks=od_ticks,
                   idle_ticks=idle_ticks, late=late, overridden=overridden)
