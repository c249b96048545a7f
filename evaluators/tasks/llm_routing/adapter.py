# Runs inside the candidate process. It keeps one router per scenario and routes the k-th
# request of every scenario that has one in a single call, so an arrival step costs one round
# trip across the sandbox boundary. The scorer re-validates every returned index, so tampering
# here gains nothing; the router only ever sees the current request and the current fleet state.
import numpy as np

_routers = []
_fleets = []


class Fleet:
    """Fixed per scenario: size, types, gpus, kv_capacity, max_batch, max_prefill_tokens (arrays
    over replicas, except size and seed), and seed (for randomised routers)."""

    def __init__(self, config):
        replicas = config["replicas"]
        self.size = len(replicas)
        self.types = [r["type"] for r in replicas]
        self.gpus = np.array([r["gpus"] for r in replicas], dtype=np.int64)
        self.kv_capacity = np.array([r["kv_capacity"] for r in replicas], dtype=np.int64)
        self.max_batch = np.array([r["max_batch"] for r in replicas], dtype=np.int64)
        self.max_prefill_tokens = np.array([r["max_prefill_tokens"] for r in replicas], dtype=np.int64)
        self.seed = int(config["seed"])

    def __repr__(self):
        return f"Fleet(size={self.size}, types={self.types}, kv_capacity={self.kv_capacity.tolist()})"


class Request:
    """The arriving request: index (k-th of its scenario), now (s), prompt_tokens."""
    __slots__ = ("index", "now", "prompt_tokens")

    def __init__(self, index, now, prompt_tokens):
        self.index, self.now, self.prompt_tokens = index, now, prompt_tokens

    def __repr__(self):
        return f"Request(index={self.index}, now={self.now!r}, prompt_tokens={self.prompt_tokens})"


class State:
    """Per-replica arrays at the arrival instant (see README: what the router sees)."""
    __slots__ = ("queued", "running", "tokens_in_flight", "kv_used", "recent_ttft", "generated",
                 "kv_capacity", "max_batch")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)

    def __repr__(self):
        return "State(" + ", ".join(f"{k}={getattr(self, k).tolist()!r}" for k in self.__slots__) + ")"


def start(router_class, configs):
    """Create one fresh router per scenario; returns how many were made."""
    global _routers, _fleets
    _fleets = [Fleet(c) for c in configs]
    _routers = [router_class(f) for f in _fleets]
    return len(_routers)


def step(router_class, k, idx, now, prompt, queued, running, tokens, kv_used, ttft, generated):
    """Route request k of scenarios `idx`; returns [replica indices (int32), first bad value or None]."""
    picks = np.empty(len(idx), dtype=np.int32)
    bad = None
    for row, i in enumerate(idx.tolist()):
        f = _fleets[i]
        state = State(queued[row].copy(), running[row].copy(), tokens[row].copy(), kv_used[row].copy(),
                      ttft[row].copy(), generated[row].copy(), f.kv_capacity.copy(), f.max_batch.copy())
        try:
            value = _routers[i].route(Request(k, float(now[row]), int(prompt[row])), state)
        except Exception as exc:
            exc.add_note(f"(router of scenario {i}, request {k})")
            raise
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and 0 <= value < f.size
        if not ok:
            if bad is None:
                bad = [row, repr(value)[:120]]
            value = 0
        picks[row] = value
    return [picks, bad]
