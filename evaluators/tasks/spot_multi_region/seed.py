"""Multi-region spot vs on-demand under a deadline (ADRS "cant_be_late_multi"). One Policy object
is created per run and asked every 195-second tick where to be and what to run next there.

Policy(config): config.task_duration, .deadline, .restart_overhead (s), .gap_seconds, .num_regions.
step(obs) -> "SPOT" | "ON_DEMAND" | "NONE" (stay in the current region), or (region, action) to
move to region index 0..num_regions-1 first. obs has: tick, elapsed_seconds, gap_seconds,
num_regions, region (current index; the job starts in 0), has_spot (spot usable in the current
region during the coming tick), spot_all (that flag for every region, this tick only),
last_cluster_type (what ran last tick), cluster_type (what is running now: NONE right after a
preemption), work_done, task_done_time (progress log), task_duration, deadline,
restart_overhead, remaining_restart_overhead (all seconds). Every (re)launch costs
restart_overhead (720 s, longer than a tick) of billed but unproductive time; moving a running
instance to a region with spot, or an on-demand one anywhere, is free. Spot is billed for the
whole run at the price of the region the job finishes in. A harness guard switches to on-demand
when the deadline is at risk; the goal is low cost.
"""
import math

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"


# EVOLVE-BLOCK-START
class Policy:
    """The leaderboard's baseline, "simple greedy multi-region" (spec §9): wait for spot while the
    deadline allows, keep a live spot instance inside a two-restart margin, otherwise on-demand;
    with no spot here, idle and try the next region."""

    def __init__(self, config):
        self.config = config

    def step(self, obs):
        remaining = obs.task_duration - obs.work_done
        if remaining <= 1e-3:
            return NONE
        gap = obs.gap_seconds
        left = math.floor((obs.deadline - obs.elapsed_seconds) / gap) * gap
        need_one = math.ceil((remaining + obs.restart_overhead) / gap) * gap
        need_two = math.ceil((remaining + 2 * obs.restart_overhead) / gap) * gap
        if need_one >= left:
            if obs.last_cluster_type == SPOT and obs.remaining_restart_overhead < 1e-3:
                return SPOT
            return ON_DEMAND
        if need_two >= left:
            return SPOT if obs.last_cluster_type == SPOT and obs.has_spot else ON_DEMAND
        if obs.has_spot:
            return SPOT
        if obs.num_regions > 1:
            return (obs.region + 1) % obs.num_regions, NONE
        return NONE
# EVOLVE-BLOCK-END
