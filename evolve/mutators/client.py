"""The LLM client: an ensemble of models behind bounded concurrency, retries, benching and a budget.

- At most `llm_options.concurrency` requests are in flight (waiting for a slot never blocks the loop).
- 429 / 5xx / timeouts / connection errors are retried with exponential backoff and full jitter,
  waiting at least what Retry-After asks; other errors are not retried.
- A model with `bench_after` consecutive failed requests sits out `bench_s` seconds; a model whose key
  is refused (401/403) or which does not exist (404) sits out for good.
- With several models the next call goes to the one whose calls improve the archive most per dollar
  (Thompson sampling, the configured weights as prior: model_choice.py); `model_choice: weights`
  keeps the configured weights.
- Before each request the spend so far is read from the call log in the database: once it reaches
  the budget no new request starts (requests in flight finish and are logged).
- Every request is logged: failed attempts here, answers by the caller once it knows the outcome;
  each row carries the request's digest and sampling parameters, so a campaign can be replayed.
- With `llm_options.replay` every model answers from a recorded campaign (replay.py), not a server.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any

from archive import Archive

from ..loop.dbthread import DatabaseThread
from archive.schema import utcnow

from ..config import CampaignConfig, ModelConfig, PriceConfig
from .base import MutatorFailed, StopCampaign
from .model_choice import ThompsonChoice
from . import preload
from .providers import CallFailure, Reply
from .request_digest import prompt_digest, sampling


REFRESH_EVERY = 2  # picks between two reads of the per-model counts from the archive


class BudgetExhausted(StopCampaign):
    pass


class CallLog:
    """Where calls go: the campaign's `llm_calls` table. Spend is always summed from it.

    Every method runs its archive call on the campaign's database thread (`db`), never on the
    event loop; without one (a mutator used on its own) a private thread is made.
    """

    def __init__(self, archive: Archive, campaign_id: int, log_prompts: bool = True,
                 db: DatabaseThread | None = None):
        self.archive = archive
        self.campaign_id = campaign_id
        self.log_prompts = log_prompts
        self.db = db or DatabaseThread()

    async def spend(self) -> dict[str, Any]:
        return await self.db(self.archive.spend, self.campaign_id)

    async def write(self, **fields: Any) -> int:
        if not self.log_prompts:
            fields["prompt"] = None
        return await self.db(self.archive.log_llm_call, self.campaign_id, **fields)

    async def model_stats(self) -> list[dict[str, Any]]:
        return await self.db(self.archive.model_stats, self.campaign_id)

    async def program_numbers(self, program_ids: list[int]) -> dict[int, int]:
        """Program id -> its iteration in the campaign (archive ids differ between archives; these do not)."""
        return await self.db(self.archive.iterations_of, program_ids)

    async def event(self, kind: str, **data: Any) -> None:
        await self.db(self.archive.log_event, self.campaign_id, kind, **data)


@dataclasses.dataclass
class ModelSlot:
    config: ModelConfig
    provider: Any  # a preload.PendingProvider (the Provider, built on the preload thread), or a ReplayProvider
    price: PriceConfig | None
    failures: int = 0                # consecutive failed requests
    benched_until: float = 0.0       # monotonic time
    dead: str | None = None          # why the model is out for good

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        if self.price is None:
            return 0.0
        return (tokens_in * self.price.input + tokens_out * self.price.output) / 1e6


@dataclasses.dataclass
class Answer:
    """A reply waiting for its outcome; `log` stores it."""
    slot: ModelSlot
    reply: Reply
    fields: dict[str, Any]


class LLMClient:
    def __init__(self, config: CampaignConfig, log: CallLog):
        self.options = config.llm_options
        self.budget = config.budget
        self.log = log
        # providers are built on a thread while the campaign starts (preload.py); the first call waits for them
        if self.options.replay is not None:
            from .replay import replay_providers
            providers = replay_providers(self.options.replay, config.models())
        else:
            providers = [preload.provider(m) for m in config.models()]
        self.slots = [ModelSlot(m, p, config.price(m)) for m, p in zip(config.models(), providers)]
        # A fixed `proposals` bounds the calls in flight as before; by default the controller's
        # proposal window (evolve/loop/concurrency.py) does, and this semaphore only enforces the cap.
        self.concurrency = self.options.concurrency or config.proposals or 1024
        self.rate_limited = 0  # 429 answers so far: the proposal window halves on each new one
        self._slots_free = asyncio.Semaphore(self.concurrency)
        self._jitter = random.Random()
        self.adaptive = self.options.model_choice == "adaptive" and len(self.slots) > 1
        priced = all(s.price is not None for s in self.slots)
        self.choice = ThompsonChoice({self._key(s): s.config.weight for s in self.slots}, priced)
        self._picks_to_refresh = 0  # the bandit's counts are re-read from the archive every REFRESH_EVERY picks

    # ---- budget ------------------------------------------------------------------------------
    async def check_budget(self) -> None:
        if self.budget.usd is None and self.budget.tokens is None:
            return
        spend = await self.log.spend()
        if self.budget.usd is not None and spend["usd"] >= self.budget.usd:
            raise BudgetExhausted(f"LLM budget reached: ${spend['usd']:.4f} spent of budget.usd ${self.budget.usd:g} "
                                  f"over {spend['calls']} calls; raise it with `evolve resume --budget-usd` to continue")
        if self.budget.tokens is not None and spend["tokens"] >= self.budget.tokens:
            raise BudgetExhausted(f"LLM budget reached: {spend['tokens']} tokens used of budget.tokens "
                                  f"{self.budget.tokens} over {spend['calls']} calls; raise it with "
                                  f"`evolve resume --budget-tokens` to continue")

    async def calls_affordable(self) -> int | None:
        """How many more calls the remaining budget pays for at the mean cost so far (None: no budget)."""
        if self.budget.usd is None and self.budget.tokens is None:
            return None
        spend = await self.log.spend()
        if not spend["calls"]:
            return None
        left = []
        if self.budget.usd is not None and spend["usd"] > 0:
            left.append((self.budget.usd - spend["usd"]) / (spend["usd"] / spend["calls"]))
        if self.budget.tokens is not None and spend["tokens"] > 0:
            left.append((self.budget.tokens - spend["tokens"]) / (spend["tokens"] / spend["calls"]))
        return max(1, int(min(left))) if left else None

    # ---- model choice ------------------------------------------------------------------------
    async def _pick(self, rng: random.Random) -> ModelSlot:
        while True:
            alive = [s for s in self.slots if s.dead is None]
            if not alive:
                reasons = "; ".join(f"{s.dead}" for s in self.slots)
                raise MutatorFailed(f"no LLM model can be used: {reasons}")
            now = time.monotonic()
            ready = [s for s in alive if s.benched_until <= now]
            if len(ready) > 1 and self.adaptive:
                await self._refresh_counts()
                key = self.choice.pick([self._key(s) for s in ready], rng)
                return next(s for s in ready if self._key(s) == key)
            if ready:
                return rng.choices(ready, weights=[s.config.weight for s in ready])[0]
            await asyncio.sleep(min(s.benched_until for s in alive) - now)

    @staticmethod
    def _key(slot: ModelSlot) -> tuple[str, str]:
        return slot.config.provider, slot.config.model

    async def _refresh_counts(self) -> None:
        """Rebuild the bandit's counts from the call log and the events (delayed rewards included)."""
        if self._picks_to_refresh <= 0:
            self.choice.update(await self.log.model_stats())
            self._picks_to_refresh = REFRESH_EVERY
        self._picks_to_refresh -= 1

    async def _failed(self, slot: ModelSlot, failure: CallFailure) -> None:
        if failure.permanent:
            if slot.dead is None:
                slot.dead = failure.message
                await self.log.event("model_dropped", model=slot.config.name, error=failure.message)
            return
        if failure.outcome == "rate_limited":
            # "not now", not "broken": the model sits out what the server asked (Retry-After, else the first
            # backoff step), and 429s never add up to `bench_after`, whose bench_s would stall a campaign
            # with one model for a minute while the proposal window already slows down on each 429
            wait = failure.retry_after if failure.retry_after is not None else self.options.backoff_s
            slot.benched_until = max(slot.benched_until,
                                     time.monotonic() + min(wait, self.options.backoff_max_s))
            return
        slot.failures += 1
        if slot.failures >= self.options.bench_after and slot.benched_until <= time.monotonic():
            slot.benched_until = time.monotonic() + self.options.bench_s
            await self.log.event("model_benched", model=slot.config.name, seconds=self.options.bench_s,
                           failures=slot.failures, error=failure.message)
            slot.failures = 0

    def _delay(self, attempt: int, failure: CallFailure) -> float:
        backoff = min(self.options.backoff_max_s, self.options.backoff_s * 2 ** attempt)
        delay = self._jitter.uniform(0.5 * backoff, backoff)
        if failure.retry_after is not None:
            # at least what the server asked (capped), plus a little jitter so waiters do not stampede
            delay = min(failure.retry_after, self.options.backoff_max_s) + self._jitter.uniform(0, 0.1 * backoff)
        return delay

    # ---- one request (with transport retries) ------------------------------------------------
    async def ask(self, rng: random.Random, system: str, messages: list[dict[str, str]], *, iteration: int,
                  operator: str) -> Answer:
        """A reply from some model of the ensemble. Raises CallFailure once retries are exhausted,
        BudgetExhausted when the budget is spent, MutatorFailed when no model is usable."""
        prompt = [{"role": "system", "content": system}, *messages]
        digest = prompt_digest(prompt)
        last: CallFailure | None = None
        for attempt in range(self.options.max_retries + 1):
            slot = await self._pick(rng)
            request = dict(iteration=iteration, provider=slot.config.provider, model=slot.config.model,
                           operator=operator, attempt=attempt, prompt=prompt, prompt_digest=digest,
                           sampling=sampling(slot.config))
            async with self._slots_free:
                await self.check_budget()  # after getting a slot: waiters do not all pass the check at once
                started, t0 = utcnow(), time.monotonic()
                try:
                    reply = await slot.provider.complete(system, messages, iteration=iteration)
                except CallFailure as failure:
                    last = failure
                    if failure.outcome == "rate_limited":
                        self.rate_limited += 1
                else:
                    slot.failures = 0
                    return Answer(slot, reply, dict(
                        **request, response=reply.text, response_id=reply.response_id, stop=reply.stop,
                        stop_reason=reply.stop_reason, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out,
                        cost_usd=slot.cost(reply.tokens_in, reply.tokens_out), latency_s=time.monotonic() - t0,
                        started_at=started))
                await self.log.write(**request, outcome=last.outcome, error=last.message, retryable=last.retryable,
                                     permanent=last.permanent, latency_s=time.monotonic() - t0, started_at=started)
            await self._failed(slot, last)
            if attempt == self.options.max_retries or not (last.retryable or last.permanent):
                break
            if not last.permanent:  # a dropped model: go straight to another one
                await asyncio.sleep(self._delay(attempt, last))
        assert last is not None
        raise last

    async def record(self, answer: Answer, outcome: str, error: str | None) -> int:
        """Log an answered request with its outcome (ok | edit_error | truncated | refused)."""
        return await self.log.write(**answer.fields, outcome=outcome, error=error)

    async def close(self) -> None:
        await asyncio.gather(*(s.provider.close() for s in self.slots), return_exceptions=True)
