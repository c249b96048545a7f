"""never_switch (spec §11): the leaderboard baseline without its region switch. It stays in
region 0 for the whole run, so it is the single-region greedy policy on region 0's trace."""
import math

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"


class Policy:
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
        return SPOT if obs.has_spot else NONE
