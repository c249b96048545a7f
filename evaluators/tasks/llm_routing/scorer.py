"""Trusted scorer for llm_routing.

One router object per scenario is created inside the candidate (adapter `start`); then the
k-th arrivals of all scenarios are routed together, one call (adapter `step`) per arrival step,
carrying only the arriving request's time and prompt length and each replica's observable
state. Every returned index is validated here before the simulator uses it.
"""
from __future__ import annotations

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput

from .metrics import report
from .scenarios import scenario_set
from .simulator import Outcome, Scenario, simulate


def _check_reply(reply, active: np.ndarray, k: int, scenarios: tuple[Scenario, ...], width: int) -> np.ndarray:
    if not isinstance(reply, list) or len(reply) != 2:
        raise InvalidOutput(f"request {k}: the router adapter returned a malformed reply")
    picks, bad = reply
    if bad is not None:
        if not (isinstance(bad, list) and len(bad) == 2 and type(bad[0]) is int and 0 <= bad[0] < active.size
                and isinstance(bad[1], str)):
            raise InvalidOutput(f"request {k}: the router adapter returned a malformed reply")
        raise InvalidOutput(f"scenario {scenarios[int(active[bad[0]])].name}, request {k}: route returned "
                            f"{bad[1][:120]}; expected an integer replica index in [0, {width})")
    if not isinstance(picks, np.ndarray) or picks.dtype.kind not in "iu" or picks.shape != active.shape:
        raise InvalidOutput(f"request {k}: expected {active.size} integer replica indices from the router adapter")
    wrong = (picks < 0) | (picks >= width)
    if wrong.any():
        name = scenarios[int(active[np.argmax(wrong)])].name
        raise InvalidOutput(f"scenario {name}, request {k}: replica index {int(picks[np.argmax(wrong)])} "
                            f"is not in [0, {width})")
    return picks.astype(np.int64)


def run(candidate: Candidate, scenarios: tuple[Scenario, ...]) -> list[Outcome]:
    made = candidate.call([s.config() for s in scenarios], fn="start")
    if made != len(scenarios):
        raise InvalidOutput(f"the router adapter created {made!r} routers; expected {len(scenarios)}")
    width = len(scenarios[0].fleet)

    def decide(k, active, now, prompt, obs):
        reply = candidate.call(k, active.astype(np.int32), now, prompt, obs["queued"], obs["running"],
                               obs["tokens_in_flight"], obs["kv_used"], obs["recent_ttft"], obs["generated"],
                               fn="step")
        return _check_reply(reply, active, k, scenarios, width)

    # A SimulationError here is a scorer bug (every request fits on every replica), so it is
    # left to the worker, which records "scorer error" rather than blaming the candidate.
    return simulate(list(scenarios), decide)


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    scenarios = scenario_set(split)
    return report(scenarios, run(candidate, scenarios))
