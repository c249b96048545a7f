# Runs inside the candidate process. The scorer creates one Fleet (candidate.new) holding a fresh
# policy object per run, then steps every run consulted at a tick in one invoke, so a tick is one
# round trip across the sandbox boundary. The scorer re-validates every answer, so tampering here
# gains nothing; the candidate only ever receives the current tick's observation.
import numpy as np

_CODES = {"NONE": 0, "SPOT": 1, "ON_DEMAND": 2}
_NAMES = ("NONE", "SPOT", "ON_DEMAND")


class Config:
    """Fixed per run: task_duration, deadline, restart_overhead (s), gap_seconds (int), num_regions."""
    __slots__ = ("task_duration", "deadline", "restart_overhead", "gap_seconds", "num_regions")

    def __init__(self, task_duration, deadline, restart_overhead, gap_seconds, num_regions):
        self.task_duration = task_duration
        self.deadline = deadline
        self.restart_overhead = restart_overhead
        self.gap_seconds = gap_seconds
        self.num_regions = num_regions

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


class Observation:
    """What a policy sees at one tick (spec §4); times in seconds, cluster types as strings."""
    __slots__ = ("tick", "elapsed_seconds", "gap_seconds", "num_regions", "region", "has_spot", "spot_all",
                 "last_cluster_type", "cluster_type", "work_done", "task_done_time", "task_duration", "deadline",
                 "restart_overhead", "remaining_restart_overhead")

    def __init__(self, tick, elapsed_seconds, gap_seconds, num_regions, region, has_spot, spot_all,
                 last_cluster_type, cluster_type, work_done, task_done_time, task_duration, deadline,
                 restart_overhead, remaining_restart_overhead):
        # Spelled out rather than a setattr loop: this runs ~400,000 times per train evaluation.
        self.tick = tick
        self.elapsed_seconds = elapsed_seconds
        self.gap_seconds = gap_seconds
        self.num_regions = num_regions
        self.region = region
        self.has_spot = has_spot
        self.spot_all = spot_all
        self.last_cluster_type = last_cluster_type
        self.cluster_type = cluster_type
        self.work_done = work_done
        self.task_done_time = task_done_time
        self.task_duration = task_duration
        self.deadline = deadline
        self.restart_overhead = restart_overhead
        self.remaining_restart_overhead = remaining_restart_overhead

    def __repr__(self):
        return "Observation(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def _answer(value, region, regions):
    """(region, action code) from a policy's answer: an action name (a str subclass such as a
    str-based enum is accepted), or (region, action name); (-1, -1) or code -1 when malformed."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        region, value = value
        if type(region) is not int and not isinstance(region, np.integer):
            return -1, -1
        region = int(region)
        if not 0 <= region < regions:
            return -1, -1
    if isinstance(value, str):
        return region, _CODES.get(str.__str__(value), -1)
    return region, -1


class Fleet:
    """One fresh policy per run; `step` advances the runs `idx` by one tick."""

    def __init__(self, policy_class, configs):
        self._configs = [Config(**c) for c in configs]
        self._policies = [policy_class(c) for c in self._configs]
        self._logs = [[] for _ in self._configs]

    def size(self):
        return len(self._policies)

    def step(self, tick, idx, region, has_spot, spot_all, prev, running, progress, done, pending):
        """Returns [regions (int16), action codes (int8), first bad answer as [row, repr] or None].
        obs.task_done_time is this run's progress log itself (not a copy: copying it every tick
        would cost O(T^2)); a policy that mutates it misleads only itself."""
        regions, codes = [], []
        bad = None
        configs, policies, logs = self._configs, self._policies, self._logs
        rows = zip(idx.tolist(), region.tolist(), has_spot.tolist(), spot_all.tolist(), prev.tolist(),
                   running.tolist(), progress.tolist(), done.tolist(), pending.tolist())
        for k, (i, r, spot, every, last, now, gained, work, left) in enumerate(rows):
            c = configs[i]
            log = logs[i]
            log.append(gained)
            n = c.num_regions
            obs = Observation(tick, tick * c.gap_seconds, c.gap_seconds, n, r, spot, tuple(every[:n]),
                              _NAMES[last], _NAMES[now], work, log, c.task_duration, c.deadline,
                              c.restart_overhead, left)
            try:
                value = policies[i].step(obs)
            except Exception as exc:
                exc.add_note(f"(policy of run {i} at tick {tick})")
                raise
            if type(value) is str:
                moved, code = r, _CODES.get(value, -1)
            else:
                moved, code = _answer(value, r, n)
            regions.append(moved)
            codes.append(code)
            if code < 0 and bad is None:
                bad = [k, repr(value)[:120]]
        return [np.array(regions, dtype=np.int16), np.array(codes, dtype=np.int8), bad]
