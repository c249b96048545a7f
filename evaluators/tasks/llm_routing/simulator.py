"""Lockstep fleet simulator: every scenario's k-th arrival is routed in one call.

A scenario is a request trace (arrival times, prompt and output lengths) and a fleet of
replicas (`replica.py`). Before the k-th arrival of each scenario, every replica of that
scenario is advanced to the arrival time and observed; `decide` receives the arrival time and
prompt length of each active scenario's request and the observations of its replicas, and
returns one replica index per active scenario. Output lengths never leave this module.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .perf_model import ReplicaType
from .replica import Replica, SimulationError

OBSERVED = ("queued", "running", "tokens_in_flight", "kv_used", "recent_ttft", "generated")

__all__ = ["OBSERVED", "Outcome", "Scenario", "SimulationError", "simulate"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    arrival: np.ndarray        # seconds from the window start, non-decreasing
    prompt: np.ndarray         # tokens
    output: np.ndarray         # tokens (>= 1); never shown to the router
    fleet: tuple[ReplicaType, ...]
    service: str               # which SLO applies ("conv" or "code")
    seed: int = 0
    info: dict = dataclasses.field(default_factory=dict, compare=False)

    def config(self) -> dict:
        """What the router is told once, when it is created (plain data)."""
        return {"replicas": [r.describe() for r in self.fleet], "seed": self.seed}

    @property
    def size(self) -> int:
        return int(self.arrival.size)


@dataclasses.dataclass
class Outcome:
    """One scenario's results: per request and per replica."""
    replica: np.ndarray        # where each request was routed
    first_token: np.ndarray    # absolute time of the first output token
    finish: np.ndarray         # absolute time of the last output token
    busy: np.ndarray           # per replica: seconds with an iteration running
    area: np.ndarray           # per replica: integral of requests in system over time
    served: np.ndarray         # per replica: requests completed
    generated: np.ndarray      # per replica: output tokens produced
    end: float                 # time the last request finished


Decide = Callable[[int, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]], np.ndarray]


def simulate(scenarios: list[Scenario], decide: Decide) -> list[Outcome]:
    """Run every scenario to completion.

    `decide(k, active, now, prompt, obs)` gets the indices of the scenarios that have a k-th
    request, that request's arrival time and prompt length, and `obs[name]` arrays of shape
    (len(active), replicas) for each name in OBSERVED; it returns one replica index per active
    scenario (already validated by the caller, or raises)."""
    if not scenarios:
        raise ValueError("simulate needs at least one scenario")
    width = len(scenarios[0].fleet)
    if any(len(s.fleet) != width for s in scenarios):
        raise ValueError("all scenarios of one simulation must have fleets of the same size")
    fleets, outcomes = [], []
    for s in scenarios:
        if s.size and (np.diff(s.arrival) < 0).any():
            raise ValueError(f"scenario {s.name}: arrival times must be non-decreasing")
        if (s.output < 1).any() or (s.prompt < 1).any():
            raise ValueError(f"scenario {s.name}: every request needs at least one prompt and one output token")
        out = Outcome(replica=np.full(s.size, -1, dtype=np.int64), first_token=np.full(s.size, -1.0),
                      finish=np.full(s.size, -1.0), busy=np.zeros(width), area=np.zeros(width),
                      served=np.zeros(width, dtype=np.int64), generated=np.zeros(width, dtype=np.int64), end=0.0)
        fleets.append([Replica(t, s.arrival, s.prompt, s.output, out.first_token, out.finish) for t in s.fleet])
        outcomes.append(out)

    sizes = np.array([s.size for s in scenarios])
    for k in range(int(sizes.max(initial=0))):
        active = np.nonzero(sizes > k)[0]
        now = np.array([scenarios[i].arrival[k] for i in active], dtype=np.float64)
        prompt = np.array([scenarios[i].prompt[k] for i in active], dtype=np.int64)
        rows = np.empty((active.size, width, len(OBSERVED)), dtype=np.float64)
        for row, i in enumerate(active):
            t = now[row]
            for j, replica in enumerate(fleets[i]):
                replica.advance(t)
                rows[row, j] = replica.observe(t)
        obs = {name: rows[:, :, c] for c, name in enumerate(OBSERVED)}
        for name in ("queued", "running", "tokens_in_flight", "kv_used", "generated"):
            obs[name] = obs[name].astype(np.int64)
        choice = np.asarray(decide(k, active, now, prompt, obs))
        if choice.shape != active.shape or choice.dtype.kind not in "iu" or (choice < 0).any() or (choice >= width).any():
            raise SimulationError(f"decide returned {choice!r}; expected {active.size} replica indices in [0, {width})")
        for row, i in enumerate(active):
            j = int(choice[row])
            outcomes[i].replica[k] = j
            fleets[i][j].arrive(k, now[row])

    for s, fleet, out in zip(scenarios, fleets, outcomes):
        for j, replica in enumerate(fleet):
            replica.drain()
            out.busy[j], out.area[j] = replica.busy, replica.area
            out.served[j], out.generated[j] = replica.served, replica.generated
        out.end = float(out.finish.max(initial=0.0))
        _check(s, out)
    return outcomes


def _check(s: Scenario, out: Outcome) -> None:
    """Invariants checked on every run: conservation and Little's law."""
    if (out.finish < 0).any() or (out.first_token < 0).any():
        raise SimulationError(f"scenario {s.name}: {int((out.finish < 0).sum())} requests never finished")
    if int(out.served.sum()) != s.size:
        raise SimulationError(f"scenario {s.name}: {int(out.served.sum())} completions for {s.size} requests")
    if int(out.generated.sum()) != int(s.output.sum()):
        raise SimulationError(f"scenario {s.name}: generated {int(out.generated.sum())} tokens, "
                              f"requested {int(s.output.sum())}")
    if (out.first_token < s.arrival).any() or (out.finish < out.first_token).any():
        raise SimulationError(f"scenario {s.name}: a request's first token precedes its arrival or last token")
    # Little's law over [0, end]: time-average number in system = arrival rate x mean sojourn,
    # i.e. the integral of N(t) equals the sum of the sojourn times.
    sojourn = float((out.finish - s.arrival).sum())
    if abs(float(out.area.sum()) - sojourn) > 1e-6 * max(1.0, sojourn):
        raise SimulationError(f"scenario {s.name}: Little's law violated (area {out.area.sum():.6f} "
                              f"vs total sojourn {sojourn:.6f})")
