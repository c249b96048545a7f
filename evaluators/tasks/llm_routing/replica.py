"""One model replica serving with continuous batching, simulated event by event.

Scheduling follows vLLM's default (no chunked prefill): at every iteration boundary, if the head
of the FIFO waiting queue fits, a prefill iteration admits waiting requests in order while they
fit (running + admitted < max_batch, KV reserved + prompt + output <= capacity, prefill tokens <=
max_prefill_tokens; a head that does not fit blocks the queue); the prefill produces each
admitted request's first token and the running requests do not advance during it. Otherwise a
decode iteration produces one token for every running request.

KV cache is reserved for a request's whole length (prompt + output) when it is admitted, so
nothing is ever preempted (a real engine would allocate as it goes and preempt on overflow).
The output length is known only here, on the trusted side; the router never sees it.

Decode iterations between two changes of the running batch all take the same time, so a run of
them is one segment computed in closed form: work per scenario is proportional to the number of
requests, not to the number of iterations.
"""
from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from .perf_model import ReplicaType

IDLE, PREFILL, DECODE = 0, 1, 2
TTFT_EWMA = 0.25   # weight of the newest first-token latency in the replica's recent-TTFT signal


class SimulationError(Exception):
    """A scenario could not be simulated (a request that can never fit, a broken invariant)."""


class Replica:
    def __init__(self, rtype: ReplicaType, arrival: np.ndarray, prompt: np.ndarray, output: np.ndarray,
                 first_token: np.ndarray, finish: np.ndarray):
        self.type = rtype
        self.decode_table = rtype.decode_table
        self.arrival, self.prompt, self.output = arrival, prompt, output
        self.first_token, self.finish = first_token, finish     # shared per-scenario result arrays
        self.waiting: deque[int] = deque()
        self.waiting_prompt = 0
        self.batch: list[int] = []          # requests in the ongoing prefill
        self.batch_prompt = 0
        self.running: list[tuple[int, int]] = []   # heap of (decode iteration it finishes at, request)
        self.running_prompt = 0
        self.running_join = 0               # sum of the iteration counter at which running requests joined
        self.join: dict[int, int] = {}
        self.iters = 0                      # decode iterations done so far
        self.kv_reserved = 0
        self.phase = IDLE
        self.seg_start = self.seg_end = self.seg_time = 0.0
        self.seg_iters = 0
        self.generated = 0                  # output tokens produced in finished segments
        self.busy = 0.0
        self.in_system = 0
        self.area = 0.0                     # integral of requests in system over time (Little's law)
        self.last_change = 0.0
        self.served = 0
        self.ttft_ewma = 0.0
        self.ttft_seen = 0

    # --- events ----------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Process every iteration boundary at or before t."""
        while self.phase != IDLE and self.seg_end <= t:
            self._end_segment()

    def arrive(self, request: int, t: float) -> None:
        """A routed request joins the waiting queue at time t (advance(t) has been called)."""
        p, o = int(self.prompt[request]), int(self.output[request])
        if p + o > self.type.kv_capacity or p > self.type.max_prefill_tokens:
            raise SimulationError(f"request {request} ({p} + {o} tokens) can never fit on a {self.type.name} replica")
        self._count(t, +1)
        self.waiting.append(request)
        self.waiting_prompt += p
        if self.phase == IDLE:
            self._start_segment(t)
        elif self.phase == DECODE and len(self.waiting) == 1 and self._fits(request, 0, 0):
            # the scheduler admits it at the next boundary: cut the decode run there
            done = int((t - self.seg_start) / self.seg_time) + 1
            if done < self.seg_iters:
                self.seg_iters = done
                self.seg_end = self.seg_start + done * self.seg_time

    def drain(self) -> None:
        self.advance(math.inf)
        if self.waiting:
            raise SimulationError(f"{len(self.waiting)} requests never left the queue of a {self.type.name} replica")

    # --- what a router may observe at time t (after advance(t)) -----------------------------
    def observe(self, t: float) -> tuple[int, int, int, int, float, int]:
        """(queued, running, tokens in flight, KV tokens in use, recent TTFT, tokens generated)."""
        iters, partial = self.iters, 0
        n_run = len(self.running)
        if self.phase == DECODE:
            done = min(int((t - self.seg_start) / self.seg_time), self.seg_iters)
            iters += done
            partial = done * n_run
        kv_used = self.running_prompt + n_run * (1 + iters) - self.running_join + self.batch_prompt
        return (len(self.waiting), n_run + len(self.batch), kv_used + self.waiting_prompt, kv_used,
                self.ttft_ewma, self.generated + partial)

    # --- internals -------------------------------------------------------------------------
    def _count(self, t: float, delta: int) -> None:
        self.area += self.in_system * (t - self.last_change)
        self.last_change = t
        self.in_system += delta

    def _fits(self, request: int, admitted: int, tokens: int) -> bool:
        p = int(self.prompt[request])
        return (len(self.running) + admitted < self.type.max_batch
                and self.kv_reserved + p + int(self.output[request]) <= self.type.kv_capacity
                and (admitted == 0 or tokens + p <= self.type.max_prefill_tokens))

    def _start_segment(self, now: float) -> None:
        tokens = 0
        while self.waiting and self._fits(self.waiting[0], len(self.batch), tokens):
            request = self.waiting.popleft()
            p = int(self.prompt[request])
            self.waiting_prompt -= p
            tokens += p
            self.kv_reserved += p + int(self.output[request])
            self.batch.append(request)
        if self.batch:
            self.batch_prompt = tokens
            self.phase, self.seg_start = PREFILL, now
            self.seg_end = now + self.type.prefill_time(tokens)
        elif self.running:
            self.phase, self.seg_start = DECODE, now
            self.seg_time = self.decode_table[len(self.running)]
            self.seg_iters = self.running[0][0] - self.iters
            self.seg_end = now + self.seg_iters * self.seg_time
        else:
            self.phase = IDLE

    def _end_segment(self) -> None:
        end = self.seg_end
        self.busy += end - self.seg_start
        if self.phase == PREFILL:
            for request in self.batch:
                self.first_token[request] = end
                ttft = end - self.arrival[request]
                self.ttft_ewma = ttft if self.ttft_seen == 0 else (1 - TTFT_EWMA) * self.ttft_ewma + TTFT_EWMA * ttft
                self.ttft_seen += 1
                self.generated += 1
                o = int(self.output[request])
                if o == 1:
                    self._complete(request, end)
                else:
                    heapq.heappush(self.running, (self.iters + o - 1, request))
                    self.join[request] = self.iters
                    self.running_prompt += int(self.prompt[request])
                    self.running_join += self.iters
            self.batch = []
            self.batch_prompt = 0
        else:
            self.generated += self.seg_iters * len(self.running)
            self.iters += self.seg_iters
            while self.running and self.running[0][0] == self.iters:
                _, request = heapq.heappop(self.running)
                self.running_prompt -= int(self.prompt[request])
                self.running_join -= self.join.pop(request)
                self._complete(request, end)
        self._start_segment(end)

    def _complete(self, request: int, t: float) -> None:
        if self.finish[request] >= 0:
            raise SimulationError(f"request {request} finished twice")
        self.finish[request] = t
        self.kv_reserved -= int(self.prompt[request]) + int(self.output[request])
        self.served += 1
        self._count(t, -1)
