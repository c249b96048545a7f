"""How many proposals (LLM calls) a campaign keeps in flight.

Fixed when the campaign sets `proposals`; otherwise, with an LLM, sized from what the loop
measures so that evaluation workers never wait for a proposal:

    target = 1.5 x workers x (proposal latency / evaluation service time) + workers

(proposals must arrive as fast as `workers` evaluations finish, with half again as headroom for
latency jitter, and `workers` more as a buffer; the service time is what a worker spends on an evaluation, not the time it waited for
one). Below the target the window opens to it at once; above it, it closes by one per
completed proposal. A 429 (rate limited) halves it, and it then holds for one window's worth of
completions before opening again (multiplicative decrease). It never exceeds the configured cap
or what the remaining budget can pay for.
"""
from __future__ import annotations

import math

EWMA = 0.2  # weight of the newest sample in the latency averages
START_PER_WORKER = 8  # the adaptive window's opening size, per worker, until latencies are measured
HEADROOM = 1.5  # proposals are cheap to have early (the iterations are fixed): err on the side of too many


class ProposalWindow:
    def __init__(self, workers: int, fixed: int | None, adaptive: bool, cap: int = 64, budgeted: bool = False):
        self.workers = workers
        self.adaptive = adaptive and fixed is None
        self.cap = max(1, cap)
        # Before the first measurement, an LLM campaign starts at several calls per worker (an LLM call
        # usually takes many evaluations' time) unless a budget must be watched call by call; offline,
        # one proposal per worker.
        per_worker = START_PER_WORKER if self.adaptive and not budgeted else 1
        self.limit = fixed or min(self.cap, workers * per_worker)
        self.proposal_s: float | None = None
        self.evaluation_s: float | None = None
        self.rate_limited_seen = 0
        self._hold = 0
        self.affordable: int | None = None  # proposals the remaining budget pays for (None: no budget)

    @property
    def target(self) -> int:
        if self.proposal_s is None or self.evaluation_s is None:
            return self.limit
        wanted = math.ceil(HEADROOM * self.workers * self.proposal_s / max(self.evaluation_s, 1e-3)) + self.workers
        return max(1, min(self.cap, wanted))

    def proposal_done(self, seconds: float, rate_limited_total: int) -> None:
        """A proposal finished after `seconds`; `rate_limited_total` counts the 429s so far."""
        self.proposal_s = seconds if self.proposal_s is None else (1 - EWMA) * self.proposal_s + EWMA * seconds
        if not self.adaptive:
            return
        if rate_limited_total > self.rate_limited_seen:
            self.rate_limited_seen = rate_limited_total
            self.limit = max(1, self.limit // 2)
            self._hold = self.limit
        elif self._hold > 0:
            self._hold -= 1
        elif self.limit < self.target:
            self.limit = self.target
        elif self.limit > self.target:
            self.limit -= 1
        if self.affordable is not None:
            self.limit = max(1, min(self.limit, self.affordable))

    def evaluation_done(self, seconds: float) -> None:
        """A worker spent `seconds` on one evaluation (its service time, queueing excluded)."""
        self.evaluation_s = seconds if self.evaluation_s is None else (1 - EWMA) * self.evaluation_s + EWMA * seconds
