"""Trusted scorer for spot_scheduling (ADRS leaderboard problem cant_be_late, single region).

One policy object per scenario is created inside the candidate (adapter `start`); then every
scenario of the split advances in lockstep and each tick is one call (adapter `step`) carrying
the current observation of every running scenario. Each returned action is validated here
before the simulator uses it; the candidate never receives trace values beyond the current tick.
"""
from __future__ import annotations

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput

from .scenarios import DEADLINES_H, OVERHEADS_H, scenario_set
from .simulator import ACTIONS, ON_DEMAND_PRICE, SPOT_PRICE, Outcome, Scenario, SimulationError, simulate

WORST_SHOWN = 5


def anchors(scenarios: tuple[Scenario, ...]) -> tuple[float, float]:
    """Spec §6: mean cost of running the task entirely on on-demand / on spot, without overhead."""
    hours = np.array([s.task_seconds / 3600.0 for s in scenarios])
    return float(np.mean(ON_DEMAND_PRICE * hours)), float(np.mean(SPOT_PRICE * hours))


def normalised(mean_cost: float, od_anchor: float, spot_anchor: float) -> float:
    """100 x (od_anchor - cost) / (od_anchor - spot_anchor), unclipped: strictly monotone in cost."""
    return 100.0 * (od_anchor - mean_cost) / (od_anchor - spot_anchor)


def leaderboard_score(mean_cost: float, od_anchor: float, spot_anchor: float) -> int:
    """Spec §6: the published integer score, clipped to [0, 100] and rounded half to even."""
    return int(round(min(max(normalised(mean_cost, od_anchor, spot_anchor), 0.0), 100.0)))


def _check_reply(reply, active: np.ndarray, tick: int, scenarios: tuple[Scenario, ...]) -> np.ndarray:
    if not isinstance(reply, list) or len(reply) != 2:
        raise InvalidOutput(f"tick {tick}: the policy adapter returned a malformed reply")
    codes, bad = reply
    if bad is not None:
        if not (isinstance(bad, list) and len(bad) == 2 and type(bad[0]) is int and 0 <= bad[0] < active.size
                and isinstance(bad[1], str)):
            raise InvalidOutput(f"tick {tick}: the policy adapter returned a malformed reply")
        name = scenarios[int(active[bad[0]])].name
        raise InvalidOutput(f"scenario {name}, tick {tick}: step returned {bad[1][:120]}; "
                            f"expected one of {', '.join(map(repr, ACTIONS))}")
    if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "iu" or codes.shape != active.shape:
        raise InvalidOutput(f"tick {tick}: expected {active.size} integer action codes from the policy adapter")
    wrong = ~np.isin(codes, (0, 1, 2))
    if wrong.any():
        name = scenarios[int(active[np.argmax(wrong)])].name
        raise InvalidOutput(f"scenario {name}, tick {tick}: action code {int(codes[np.argmax(wrong)])} is not 0, 1 or 2")
    return codes.astype(np.int8)


def run(candidate: Candidate, scenarios: tuple[Scenario, ...]) -> Outcome:
    made = candidate.call([s.config() for s in scenarios], fn="start")
    if made != len(scenarios):
        raise InvalidOutput(f"the policy adapter created {made!r} policies; expected {len(scenarios)}")

    def decide(tick: int, active: np.ndarray, obs: dict[str, np.ndarray]) -> np.ndarray:
        reply = candidate.call(tick, active.astype(np.int32), obs["has_spot"], obs["last_cluster_type"],
                               obs["cluster_type"], obs["work_done"], obs["remaining_restart_overhead"], fn="step")
        return _check_reply(reply, active, tick, scenarios)

    try:
        return simulate(list(scenarios), decide)
    except SimulationError as exc:
        raise InvalidOutput(str(exc)) from None


def report(scenarios: tuple[Scenario, ...], outcome: Outcome) -> dict:
    od_anchor, spot_anchor = anchors(scenarios)
    mean_cost = float(np.mean(outcome.cost))
    billed = outcome.spot_ticks.sum() + outcome.od_ticks.sum()
    metrics: dict[str, float] = {
        "mean_cost": mean_cost,
        "leaderboard_score": leaderboard_score(mean_cost, od_anchor, spot_anchor),
        "normalised_score": normalised(mean_cost, od_anchor, spot_anchor),
        "deadline_misses": int(outcome.late.sum()),
        "spot_share": float(outcome.spot_ticks.sum() / billed),
        "mean_finish_hours": float(np.mean(outcome.finish_tick * np.array([s.gap_seconds for s in scenarios])) / 3600),
        "guard_overrides": float(np.mean(outcome.overridden)),
        "scenarios": len(scenarios),
    }
    deadline = np.array([s.info["deadline_hours"] for s in scenarios])
    overhead = np.array([s.info["overhead_hours"] for s in scenarios])
    for d in DEADLINES_H:
        if (deadline == d).any():
            metrics[f"mean_cost_d{d}"] = float(np.mean(outcome.cost[deadline == d]))
        for o in OVERHEADS_H:
            group = (deadline == d) & (overhead == o)
            if group.any():
                metrics[f"mean_cost_d{d}_o{o}"] = float(np.mean(outcome.cost[group]))
    envs = np.array([s.info["env"] for s in scenarios])
    per_env = {str(env): round(float(np.mean(outcome.cost[envs == env])), 4) for env in dict.fromkeys(envs)}
    order = np.argsort(-outcome.cost, kind="stable")[:WORST_SHOWN]
    worst = [{"scenario": scenarios[i].name, "cost": round(float(outcome.cost[i]), 4),
              "finish_hours": round(float(outcome.finish_tick[i] * scenarios[i].gap_seconds / 3600), 2),
              "spot_ticks": int(outcome.spot_ticks[i]), "on_demand_ticks": int(outcome.od_ticks[i]),
              "idle_ticks": int(outcome.idle_ticks[i]), "late": bool(outcome.late[i])} for i in order]
    late = [scenarios[i].name for i in np.nonzero(outcome.late)[0][:WORST_SHOWN]]
    return {
        "score": metrics["normalised_score"],
        "metrics": metrics,
        "artifacts": {"worst_scenarios": worst, "mean_cost_by_env": per_env, "late_scenarios": late,
                      "anchors": {"on_demand": od_anchor, "spot": spot_anchor}},
    }


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    scenarios = scenario_set(split)
    return report(scenarios, run(candidate, scenarios))
