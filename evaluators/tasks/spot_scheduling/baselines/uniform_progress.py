"""Uniform Progress (Wu et al., "Can't Be Late", NSDI'24), as described in the spot_scheduling
spec §9: use spot when available, fall back to on-demand only when behind the straight line from
(0, 0) to (deadline, task), with hysteresis before leaving on-demand, and a safety net near the
deadline. Later rules override earlier ones."""
import math

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"


class Policy:
    def __init__(self, config):
        self.config = config

    def step(self, obs):
        c0, r0, d, gap = obs.task_duration, obs.deadline, obs.restart_overhead, obs.gap_seconds
        ct = c0 - obs.work_done
        t = obs.elapsed_seconds
        if ct <= 1e-3:
            return NONE
        slots_left = math.floor((r0 - t) / gap) * gap
        need_one = math.ceil((ct + d) / gap) * gap
        need_two = math.ceil((ct + 2 * d) / gap) * gap
        done = c0 - ct
        running = obs.cluster_type

        decision = SPOT if obs.has_spot else NONE
        if done < t * c0 / r0:  # behind the uniform-progress line
            decision = SPOT if obs.has_spot else ON_DEMAND
        if running == ON_DEMAND and not (obs.has_spot and done > (t + 2 * d) * c0 / r0):
            decision = ON_DEMAND
        if need_two >= slots_left and running in (NONE, ON_DEMAND):
            decision = ON_DEMAND
        if need_one >= slots_left:
            decision = SPOT if running == SPOT and obs.remaining_restart_overhead < 1e-3 else ON_DEMAND
            if d == 0 and obs.has_spot:
                decision = SPOT
        return decision
