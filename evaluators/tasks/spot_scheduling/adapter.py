# Runs inside the candidate process. It keeps one policy object per scenario and steps every
# running scenario of a tick in one call, so a tick costs one round trip across the sandbox
# boundary. The scorer re-validates every returned action, so tampering here gains nothing;
# the candidate only ever receives the current tick's availability.
import numpy as np

_CODES = {"NONE": 0, "SPOT": 1, "ON_DEMAND": 2}
_NAMES = ("NONE", "SPOT", "ON_DEMAND")
_policies = []
_configs = []


class Config:
    """Fixed per scenario, in seconds: task_duration, deadline, restart_overhead, gap_seconds."""
    __slots__ = ("task_duration", "deadline", "restart_overhead", "gap_seconds")

    def __init__(self, task_duration, deadline, restart_overhead, gap_seconds):
        self.task_duration = task_duration
        self.deadline = deadline
        self.restart_overhead = restart_overhead
        self.gap_seconds = gap_seconds

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


class Observation:
    """What a policy sees at one tick (spec §12); times in seconds, cluster types as strings."""
    __slots__ = ("tick", "elapsed_seconds", "gap_seconds", "has_spot", "last_cluster_type", "cluster_type",
                 "work_done", "task_duration", "deadline", "restart_overhead", "remaining_restart_overhead")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)

    def __repr__(self):
        return "Observation(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def start(policy_class, configs):
    """Create one fresh policy per scenario; returns how many were made."""
    global _policies, _configs
    _configs = [Config(**c) for c in configs]
    _policies = [policy_class(c) for c in _configs]
    return len(_policies)


def step(policy_class, tick, idx, has_spot, prev, running, done, pending):
    """Step the policies of scenarios `idx`; returns [action codes (int8), first bad value or None]."""
    codes = np.empty(len(idx), dtype=np.int8)
    bad = None
    rows = zip(idx.tolist(), has_spot.tolist(), prev.tolist(), running.tolist(), done.tolist(), pending.tolist())
    for k, (i, spot, last, now, work, left) in enumerate(rows):
        c = _configs[i]
        obs = Observation(tick, tick * c.gap_seconds, c.gap_seconds, spot, _NAMES[last], _NAMES[now], work,
                          c.task_duration, c.deadline, c.restart_overhead, left)
        try:
            value = _policies[i].step(obs)
        except Exception as exc:
            exc.add_note(f"(policy of scenario {i} at tick {tick})")
            raise
        code = _CODES.get(str.__str__(value), -1) if isinstance(value, str) else -1
        if code < 0 and bad is None:
            bad = [k, repr(value)[:120]]
        codes[k] = code
    return [codes, bad]
