"""LLM providers built on a thread of their own, so importing an SDK overlaps the rest of a campaign's start.

Importing the openai SDK (or anthropic's) and building its client is the largest single cost between
`evolve run` and its first LLM request (bench/bench_loop.py times that way), most of it the SDK's
class definitions. Nothing before the first request needs it but the request itself, so `start`
begins it on a thread and the caller goes on loading the task, creating the archive, spawning the
evaluation workers and storing the seed; the time that work spends waiting (file writes, process
spawns) is time the import gets. `provider` hands out a stand-in whose first call waits, without
blocking the event loop, for the real provider.

Failures here are never reported: a build that failed is done again on the caller's thread at the
first call, which raises what it raises (the key and the templates were checked by `preflight`).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Callable, Iterable

from ..config import ModelConfig
from .providers import Provider, Reply, make_provider

_lock = threading.Lock()
_builds: dict[str, concurrent.futures.Future] = {}


def _key(model: ModelConfig) -> str:
    return model.model_dump_json()


def _build(model: ModelConfig) -> Provider:
    provider = make_provider(model)
    provider.warm()
    return provider


def _build_all(todo: list, others: list[concurrent.futures.Future], then: Callable[[], None] | None) -> None:
    built: dict[int, Provider | BaseException] = {}
    try:
        for index, (model, _) in enumerate(todo):
            try:
                built[index] = _build(model)
            except BaseException as exc:  # noqa: BLE001 - the first call builds it again and reports what it raises
                built[index] = exc
        concurrent.futures.wait(others)
    finally:
        if then is not None:  # before any provider is handed out: it runs ahead of the first request
            then()
        for index, (_, future) in enumerate(todo):
            outcome = built.get(index, RuntimeError("the provider build did not finish"))
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def start(models: Iterable[ModelConfig], then: Callable[[], None] | None = None) -> None:
    """Begin building a provider for each model not already being built (on a daemonic thread: an error
    exit does not wait for an import); `then` runs on that thread once all of them are built."""
    todo, others = [], []
    with _lock:
        for model in models:
            if _key(model) in _builds:
                others.append(_builds[_key(model)])
            else:
                _builds[_key(model)] = concurrent.futures.Future()
                todo.append((model, _builds[_key(model)]))
    if todo or then is not None:
        threading.Thread(target=_build_all, args=(todo, others, then), name="evolve-sdk-import",
                         daemon=True).start()


def provider(model: ModelConfig) -> "PendingProvider":
    """The provider for `model`: started now unless `start` began it; each build is handed out once."""
    start([model])
    with _lock:
        future = _builds.pop(_key(model))
    return PendingProvider(model, future)


class PendingProvider:
    """Stands in for a provider being built: the first `complete` waits for it, later ones go straight through."""

    def __init__(self, model: ModelConfig, future: concurrent.futures.Future):
        self.model = model
        self._future = future
        self._provider: Provider | None = None

    async def ready(self) -> Provider:
        if self._provider is None:
            try:
                built = await asyncio.wrap_future(self._future)
            except Exception:  # noqa: BLE001 - built again here, where its error surfaces
                built = make_provider(self.model)
            if self._provider is None:  # another caller may have finished first
                self._provider = built
            elif built is not self._provider:
                await built.close()
        return self._provider

    async def complete(self, system: str, messages: list[dict[str, str]], *, iteration: int | None = None) -> Reply:
        provider = self._provider or await self.ready()
        return await provider.complete(system, messages, iteration=iteration)

    async def close(self) -> None:
        if self._provider is None and self._future.done() and not self._future.exception():
            self._provider = self._future.result()
        if self._provider is not None:
            await self._provider.close()
