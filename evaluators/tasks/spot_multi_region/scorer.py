"""Trusted scorer for spot_multi_region (ADRS leaderboard problem cant_be_late_multi).

One Fleet of fresh policies, one per run, is created inside the candidate (`candidate.new`);
then every run of the split advances in lockstep and each tick is one `candidate.invoke` carrying
the current observation of every run consulted at that tick. Each answer (region, action) is
validated here before the simulator uses it. Cost, progress and the score are recomputed here
from the traces; nothing the candidate prints, returns or computes itself is reported.
"""
from __future__ import annotations

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput
from evaluators.tasks.spot_scheduling.scorer import normalised

from .scenarios import GROUP_NAMES, run_set
from .simulator import ACTIONS, ON_DEMAND_PRICE, Outcome, Run, SimulationError, simulate

# §7: constants of the score, unrelated to the trace prices.
TASK_HOURS = 48
OD_ANCHOR = ON_DEMAND_PRICE * TASK_HOURS      # 146.88
SPOT_ANCHOR = 0.9731 * TASK_HOURS             # 46.7088
SAME_REGION_GROUPS = ("2_zones_same_region", "3_zones_same_region")
WORST_SHOWN = 5


def leaderboard_score(avg_cost: float) -> float:
    """§7: round(100 * clip((146.88 - avg_cost) / 100.1712, 0, 1), 2)."""
    return round(100.0 * min(max((OD_ANCHOR - avg_cost) / (OD_ANCHOR - SPOT_ANCHOR), 0.0), 1.0), 2)


def _in_order_sum(values) -> float:
    """Left-to-right float sum (§7 "sums are accumulated in the order shown"); Python >= 3.12's
    sum() compensates rounding and np.sum is pairwise, both of which could move the last bit."""
    total = 0.0
    for v in values:
        total += float(v)
    return total


def group_means(runs: tuple[Run, ...], cost: np.ndarray) -> dict[str, float]:
    """§7: per region set, the mean of its runs' costs, in protocol order."""
    out = {}
    for group in GROUP_NAMES:
        costs = [c for r, c in zip(runs, cost) if r.info.get("group") == group]
        if costs:
            out[group] = _in_order_sum(costs) / len(costs)
    return out


def _check_reply(reply, live: np.ndarray, tick: int, runs: tuple[Run, ...]) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(reply, list) or len(reply) != 3:
        raise InvalidOutput(f"tick {tick}: the policy adapter returned a malformed reply")
    regions, codes, bad = reply
    if bad is not None:
        if not (isinstance(bad, list) and len(bad) == 2 and type(bad[0]) is int and 0 <= bad[0] < live.size
                and isinstance(bad[1], str)):
            raise InvalidOutput(f"tick {tick}: the policy adapter returned a malformed reply")
        run = runs[int(live[bad[0]])]
        raise InvalidOutput(f"run {run.name}, tick {tick}: step returned {bad[1][:120]}; expected one of "
                            f"{', '.join(map(repr, ACTIONS))} or (region 0..{run.regions - 1}, action)")
    for name, value in (("region", regions), ("action", codes)):
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.shape != live.shape:
            raise InvalidOutput(f"tick {tick}: expected {live.size} integer {name} codes from the policy adapter")
    limit = np.array([runs[i].regions for i in live])
    wrong = (regions < 0) | (regions >= limit) | ~np.isin(codes, (0, 1, 2))
    if wrong.any():
        row = int(np.argmax(wrong))
        raise InvalidOutput(f"run {runs[int(live[row])].name}, tick {tick}: answer (region {int(regions[row])}, "
                            f"action code {int(codes[row])}) is out of range")
    return regions.astype(np.int64), codes.astype(np.int8)


def run(candidate: Candidate, runs: tuple[Run, ...]) -> Outcome:
    fleet = candidate.new([r.config() for r in runs], fn="Fleet")
    made = candidate.invoke([(fleet, "size", [])])[0]
    if made != len(runs):
        raise InvalidOutput(f"the policy adapter created {made!r} policies; expected {len(runs)}")

    def decide(tick: int, live: np.ndarray, obs: dict[str, np.ndarray]):
        args = [tick, live.astype(np.int32), obs["region"].astype(np.int16), obs["has_spot"], obs["spot_all"],
                obs["last_cluster_type"], obs["cluster_type"], obs["progress"], obs["work_done"],
                obs["remaining_restart_overhead"]]
        return _check_reply(candidate.invoke([(fleet, "step", args)])[0], live, tick, runs)

    try:
        return simulate(list(runs), decide)
    except SimulationError as exc:
        raise InvalidOutput(str(exc)) from None


def _region_name(run: Run, index: int) -> str | int:
    names = run.info.get("regions")
    return names[index] if names else index


def report(runs: tuple[Run, ...], outcome: Outcome) -> dict:
    means = group_means(runs, outcome.cost)
    avg_cost = _in_order_sum(means.values()) / len(means)
    billed = outcome.spot_ticks.sum() + outcome.od_ticks.sum()
    gap = np.array([r.gap_seconds for r in runs])
    metrics: dict[str, float] = {
        "avg_cost": avg_cost,
        "leaderboard_score": leaderboard_score(avg_cost),
        "normalised_score": normalised(avg_cost, OD_ANCHOR, SPOT_ANCHOR),
        "spot_share": float(outcome.spot_ticks.sum() / billed),
        "late_runs": int(outcome.late.sum()),
        "mean_finish_hours": float(np.mean(outcome.finish_tick * gap) / 3600),
        "mean_launches": float(np.mean(outcome.launches)),
        "mean_region_moves": float(np.mean(outcome.moves)),
        "guard_overrides": float(np.mean(outcome.overridden)),
        "runs": len(runs),
    }
    for group, value in means.items():
        metrics[f"cost_{group}"] = value
    same = [means[g] for g in SAME_REGION_GROUPS if g in means]
    other = [v for g, v in means.items() if g not in SAME_REGION_GROUPS]
    if same:
        metrics["cost_same_region"] = _in_order_sum(same) / len(same)
    if other:
        metrics["cost_multi_region"] = _in_order_sum(other) / len(other)
    order = np.argsort(-outcome.cost, kind="stable")[:WORST_SHOWN]
    worst = [{"run": runs[i].name, "cost": round(float(outcome.cost[i]), 4), "finish_tick": int(outcome.finish_tick[i]),
              "spot_ticks": int(outcome.spot_ticks[i]), "on_demand_ticks": int(outcome.od_ticks[i]),
              "idle_ticks": int(outcome.idle_ticks[i]), "launches": int(outcome.launches[i]),
              "region_moves": int(outcome.moves[i]),
              "billing_region": _region_name(runs[i], int(outcome.billing_region[i]))} for i in order]
    return {
        "score": metrics["normalised_score"],
        "metrics": metrics,
        "artifacts": {"worst_runs": worst, "late_runs": [runs[i].name for i in np.nonzero(outcome.late)[0][:WORST_SHOWN]],
                      "anchors": {"on_demand": OD_ANCHOR, "spot": SPOT_ANCHOR}},
    }


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    runs = run_set(split)
    return report(runs, run(candidate, runs))
