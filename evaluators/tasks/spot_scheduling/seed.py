"""Spot vs on-demand under a deadline ("Can't Be Late"). One Policy object is created per
scenario and asked every 10-minute tick what to run next: SPOT, ON_DEMAND or NONE.

Policy(config): config.task_duration, .deadline, .restart_overhead, .gap_seconds (seconds).
step(obs) -> "SPOT" | "ON_DEMAND" | "NONE", where obs has: tick, elapsed_seconds, gap_seconds,
has_spot (spot usable during the coming tick), last_cluster_type (what ran last tick),
cluster_type (what is running now: NONE right after a preemption), work_done, task_duration,
deadline, restart_overhead, remaining_restart_overhead (all seconds). Every (re)launch costs
restart_overhead of billed but unproductive time. A harness guard switches to on-demand when
the deadline is at risk, so the deadline is (almost) always met; the goal is low cost.
"""
import math

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"


# EVOLVE-BLOCK-START
class Policy:
    """Greedy safety seed (the ADRS leaderboard baseline): wait for spot while the deadline allows,
    keep a live spot instance inside a two-restart margin, otherwise go on-demand for good."""

    def __init__(self, config):
        self.config = config

    def step(self, obs):
        remaining = obs.task_duration - obs.work_done
        if remaining <= 1e-9:
            return NONE
        gap = obs.gap_seconds
        ticks_left = max(0, math.floor((obs.deadline - obs.elapsed_seconds) / gap))
        need_one_restart = math.ceil((remaining + obs.restart_overhead) / gap)
        need_two_restarts = math.ceil((remaining + 2 * obs.restart_overhead) / gap)
        if need_one_restart >= ticks_left:
            return ON_DEMAND
        if need_two_restarts >= ticks_left:
            return SPOT if obs.cluster_type == SPOT and obs.has_spot else ON_DEMAND
        return SPOT if obs.has_spot else NONE
# EVOLVE-BLOCK-END
