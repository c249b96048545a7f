"""How many proposals (LLM calls) a campaign keeps in flight.

Fixed when the campaign sets `proposals`; otherwise, with an LLM, sized from what the loop
measures so that evaluation workers never wait for a proposal:

    target = 1.5 x workers x (proposal latency / evaluation service time) + workers

(proposals must arrive as fast as `workers` evaluations finish, with half again as headroom for
latency jitter, and `workers` more as a buffer; the service time is what a worker spends on an
evaluation, not the time it waited for one).

Opening: a guess of 4 calls per worker, held only until the seed's evaluation has given the
service time. Then, before the first reply, the latency is censored, not unknown: with calls out
for T seconds and none back, it is at least T. So the window opens on that lower bound as time
passes (the controller wakes the loop when the bound allows one more call) and is near its target
when the first reply lands, instead of holding a guessed size for a whole latency. A budgeted
campaign skips both: it stays at one call per worker until a reply tells what a call costs, then
never exceeds what the remaining budget pays for.

After a measurement: below the target the window opens toward it (by one call per loop event: see
the class); above it, it closes by one per completed proposal. A server whose latency grows with
the calls in flight (a local inference server working on a few at a time) bounds the target: see
`_fit_queue`.

429 (rate limited): the 429s are read on every loop event, not only when a proposal ends (its
retry waits Retry-After inside the client). The first cuts the window to the calls the server did
take (in flight minus the 429s); another one from within the cut window, before it has held long
enough to be trusted, halves it. Then it holds for `limit x 2^(rate-limit episodes - 1)` successful
completions before probing more: below the calls in flight at the last 429 each probe that holds
as long is followed by one twice as big (a halving or a transient 429 is recovered from in a few
windows); from there on one call at a time. A probe that draws a 429 is cut back and the next waits
twice as long; one that draws it at (or below) the number of calls the last 429 came at has found a
limit that does not move up, and the next waits the longest (64 windows). A provider's fixed concurrency limit
then costs two 429s to find: the first, and the probe that confirms it.
Never above the configured cap.
"""
from __future__ import annotations

import math
from collections import deque

EWMA = 0.2  # weight of the newest sample in the latency average
EVALUATION_SAMPLES = 31  # recent evaluations whose median is the service time
START_PER_WORKER = 4  # the opening guess, held only until the seed's evaluation is measured
HEADROOM = 1.5  # proposals are cheap to have early (the iterations are fixed): err on the side of too many
MIN_WAKE_S = 0.02  # the loop is woken at most this often to open the window on the latency's lower bound
MAX_PROBE_DOUBLINGS = 6  # after many 429 episodes, a probe still comes every 64 windows of completions
QUEUE_SAMPLES = 64  # recent (calls in flight at its start, latency) pairs the queueing fit uses
QUEUE_T = 3.0  # how many standard errors above zero a latency-per-call slope must be to be believed


class ProposalWindow:
    """`goal` is the window the measurements ask for; `limit`, the one applied, follows it down at once
    and up by one call per loop event (the controller wakes the loop every MIN_WAKE_S while it lags):
    a jump would send a burst, and a burst past a provider's limit comes back as many 429s at once
    (each sits the model out for the server's Retry-After in the client)."""

    def __init__(self, workers: int, fixed: int | None, adaptive: bool, cap: int = 64, budgeted: bool = False):
        self.workers = workers
        self.adaptive = adaptive and fixed is None
        self.budgeted = budgeted
        self.cap = max(1, cap)
        # until the seed's evaluation gives the service time: a few calls per worker with an LLM, one offline
        # or on a budget (the budget's check waits for the cost of a call)
        per_worker = START_PER_WORKER if self.adaptive and not budgeted else 1
        self.limit = fixed or min(self.cap, workers * per_worker)
        self.goal = self.limit
        self.proposal_s: float | None = None
        self.evaluation_s: float | None = None
        self._evaluations: deque[tuple[str, float]] = deque(maxlen=EVALUATION_SAMPLES)
        self.rate_limited_seen = 0
        self.rate_limit_episodes = 0
        self._confirmed = True  # no 429 since the window last held long enough to be trusted
        self._hold = 0  # successful completions to wait before probing more calls (after a 429)
        self._step = 1  # calls the next probe adds: doubles with each probe that held, 1 after a 429
        self._ceiling: int | None = None  # calls in flight when the last 429 came
        self._fixed_limit = False  # a 429 episode came at no more calls in flight than the last: probe most rarely
        self._first_started: float | None = None
        self.affordable: int | None = None  # proposals the remaining budget pays for (None: no budget)
        self._samples: deque[tuple[int, float]] = deque(maxlen=QUEUE_SAMPLES)
        self.queue_bound: int | None = None  # the window past which calls only queue at the server

    def _wanted(self, proposal_s: float) -> int:
        # (less a hair, so 6.000000000000001 calls are 6)
        wanted = math.ceil(HEADROOM * self.workers * proposal_s / max(self.evaluation_s, 1e-3) - 1e-9) + self.workers
        return max(1, min(self.cap, wanted))

    @property
    def target(self) -> int:
        if self.proposal_s is None or self.evaluation_s is None:
            return self.goal
        return min(self._wanted(self.proposal_s), self.queue_bound or self.cap)

    def _censored(self) -> bool:
        """Calls are out, none has come back, the service time is known: the window opens on the lower bound."""
        return (self.adaptive and not self.budgeted and self.proposal_s is None and self.evaluation_s is not None
                and self._first_started is not None and self.rate_limit_episodes == 0 and self.goal < self.cap)

    def _follow(self) -> None:
        self.limit = min(self.limit + 1, self.goal) if self.limit < self.goal else self.goal

    # ---- events ------------------------------------------------------------------------------
    def started(self, now: float) -> None:
        """A proposal (LLM call) was launched at `now`."""
        if self._first_started is None:
            self._first_started = now

    def tick(self, now: float, rate_limited_total: int, in_flight: int) -> None:
        """Any loop event (or a wake-up): take in new 429s, and before the first reply open on the bound."""
        if not self.adaptive:
            return
        self._take_rate_limits(rate_limited_total, in_flight)
        if self._censored():
            self.goal = max(self.goal, self._wanted(now - self._first_started))
        self._follow()

    def wake_in(self, now: float) -> float | None:
        """Seconds until the window may open by one (None: no reason to wake the loop)."""
        if not self.adaptive:
            return None
        if self.limit < self.goal:
            return MIN_WAKE_S
        if not self._censored():
            return None
        # _wanted(T) > goal once HEADROOM x workers x T / evaluation_s > goal - workers
        opens_at = (self.goal - self.workers) * max(self.evaluation_s, 1e-3) / (HEADROOM * self.workers)
        return max(MIN_WAKE_S, opens_at - (now - self._first_started) + 1e-6)

    def proposal_done(self, seconds: float, rate_limited_total: int, in_flight: int | None = None,
                      load: int | None = None) -> None:
        """A proposal finished after `seconds`; `rate_limited_total` counts the 429s so far, `in_flight`
        the proposals still out (this one included), `load` those out when it started (itself included)."""
        self.proposal_s = seconds if self.proposal_s is None else (1 - EWMA) * self.proposal_s + EWMA * seconds
        if not self.adaptive:
            return
        if load is not None:  # (None for calls that overlapped a 429: their time holds a Retry-After wait)
            self._samples.append((load, seconds))
            self._fit_queue()
        if not self._take_rate_limits(rate_limited_total, self.limit if in_flight is None else in_flight):
            if self._hold > 0:
                self._hold -= 1
                if self._hold == 0:
                    self._confirmed = True
                    if self.goal < self.target:  # probe: confirmed if it holds as long
                        self.goal = min(self.target, self._next_probe())
                        self._hold = self.goal * self._probe_doubling()
            elif self.goal != self.target:
                self.goal = self.target if self.goal < self.target else self.goal - 1
        if self.affordable is not None:
            self.goal = max(1, min(self.goal, self.affordable))
        self._follow()

    def evaluation_done(self, seconds: float) -> None:
        """A worker spent `seconds` on one evaluation (its service time, queueing excluded). The estimate
        is the median of the recent ones: a worker's first evaluation also pays the sandbox's cold start
        (starting its zygote), and an average would carry that for many evaluations. The seed's is used
        only until another one is measured."""
        if self._evaluations and self._evaluations[0][0] == "seed":
            self._evaluations.clear()
        self._evaluations.append(("seed" if self.evaluation_s is None else "child", seconds))
        ordered = sorted(value for _, value in self._evaluations)
        self.evaluation_s = ordered[(len(ordered) - 1) // 2]  # the lower median: err toward more proposals

    # ---- a server that queues ----------------------------------------------------------------
    def _fit_queue(self) -> None:
        """latency = a + b x calls in flight, by least squares over the recent calls. A server working on
        N calls at a time (a local inference server), each taking s, shows a clear slope b = s / N: the
        window stops at 2 N + workers, N estimated as the quickest recent call over b (the intercept a
        is no help: with a long queue it is near zero). A provider whose latency does not grow with
        the calls gives no significant slope, or a tiny one whose bound lies far above the window."""
        if len(self._samples) < 8:
            return
        n = len(self._samples)
        mean_x = sum(x for x, _ in self._samples) / n
        mean_y = sum(y for _, y in self._samples) / n
        sxx = sum((x - mean_x) ** 2 for x, _ in self._samples)
        if sxx <= 0:
            return  # all at one load: nothing to learn the slope from (the last bound stays)
        b = sum((x - mean_x) * (y - mean_y) for x, y in self._samples) / sxx
        a = mean_y - b * mean_x  # (the fit's intercept: only for the residuals)
        residual = sum((y - a - b * x) ** 2 for x, y in self._samples) / (n - 2)
        if b > 0 and b > QUEUE_T * math.sqrt(residual / sxx):
            slots = min(y for _, y in self._samples) / b
            self.queue_bound = min(self.cap, max(1, round(2 * slots)) + self.workers)
        elif max(x for x, _ in self._samples) >= 2 * min(x for x, _ in self._samples):
            self.queue_bound = None  # loads far apart and latency flat: no queue (a window held at the bound
            # has too narrow a spread of loads to say either way, and keeps it)

    # ---- rate limits -------------------------------------------------------------------------
    def _next_probe(self) -> int:
        """Below the last 429's ceiling, probes double (recovering from a halving, or from a transient
        limit, takes a few windows); at it and above, one call at a time, so that a probe past a
        provider's limit costs one 429, not a burst of them."""
        if self._ceiling is not None and self.goal + 1 >= self._ceiling:
            return self.goal + 1
        step, self._step = self._step, self._step * 2
        return self.goal + step if self._ceiling is None else min(self.goal + step, self._ceiling - 1)

    def _probe_doubling(self) -> int:
        if self._fixed_limit:
            return 2 ** MAX_PROBE_DOUBLINGS
        return 2 ** min(MAX_PROBE_DOUBLINGS, max(0, self.rate_limit_episodes - 1))

    def _take_rate_limits(self, rate_limited_total: int, in_flight: int) -> bool:
        """Shrink on 429s not seen before; True when there were some."""
        new = rate_limited_total - self.rate_limited_seen
        if new <= 0:
            return False
        self.rate_limited_seen = rate_limited_total
        if self._confirmed or in_flight > self.limit:
            # the first 429 after a trusted window, or calls launched before the last cut: what the
            # server took is the ceiling
            self.rate_limit_episodes += self._confirmed
            self._fixed_limit = self._confirmed and self._ceiling is not None and in_flight <= self._ceiling
            self._ceiling = in_flight
            self.limit = max(1, min(self.limit, in_flight - new))
        else:  # 429s within the window itself after a cut: back off harder
            self.limit = max(1, self.limit // 2)
        self.goal = self.limit
        self._confirmed = False
        self._step = 1
        self._hold = self.limit * self._probe_doubling()
        return True
