"""Replay: a recorded campaign's logged LLM answers stand in for the models, so a campaign re-runs
without any server (`evolve run --replay SOURCE`).

A `ReplayProvider` sits where a real provider sits, behind the same client: the mutator renders
the same prompts, the client picks models, retries and logs as before, and the edits are parsed
and applied as they were. Each request is matched to the recording by what identifies it —
iteration, provider and model, the digest of its messages and its sampling parameters — and gets
the recorded outcome: the answer (text, tokens, stop kind) or the failure the server gave then
(a 500 is retried again, exactly as it was). Requests with the same key are answered in the
order they were logged. A request the recording never made stops the campaign with one line
naming the iteration and what differs; the replay never drifts silently.

What it reproduces: with the same settings, the same campaign (programs, scores, call log).
Settings that change what is asked (templates, selection, a scorer whose scores the prompts show)
are reported at the first iteration whose request differs.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Any, Iterable

from archive import ArchiveError

from ..config import ModelConfig, ReplaySource
from ..errors import UserError
from .base import MutatorFailed
from .providers import CallFailure, Reply
from .request_digest import prompt_digest, sampling


class ReplayMismatch(MutatorFailed):
    """A request the recording cannot answer: the campaign fails with this one line."""


@dataclasses.dataclass(frozen=True)
class RecordedCall:
    iteration: int | None
    provider: str
    model: str
    prompt_digest: str
    sampling: dict[str, Any]
    outcome: str
    error: str | None
    response: str | None
    response_id: str | None
    stop: str | None
    stop_reason: str | None
    tokens_in: int
    tokens_out: int
    retryable: bool | None
    permanent: bool | None

    @property
    def key(self) -> tuple:
        return _key(self.iteration, self.provider, self.model, self.prompt_digest, self.sampling)


def _key(iteration, provider, model, digest, params) -> tuple:
    return iteration, provider, model, digest, json.dumps(params, sort_keys=True)


def _source_name(source: ReplaySource) -> str:
    from archive.db import display_url

    return f"campaign {source.name or source.campaign} of {display_url(source.db)}"


def _open(db: str):
    from archive import Archive
    from archive.db import database_url, display_url

    url = database_url(db)
    if url.startswith("sqlite:///") and not os.path.isfile(url[len("sqlite:///"):]):
        raise UserError(f"--replay {display_url(db)}: no such archive file; pass the archive (or a file made by "
                        f"`evolve archive --backup`) that holds the recorded campaign")
    return Archive(db, create=False)


def _recorded_calls(archive, campaign_id: int, label: str) -> list[RecordedCall]:
    rows = archive.llm_calls(campaign_id)
    if not rows:
        raise UserError(f"{label} made no LLM calls: there is nothing to replay (an offline campaign is "
                        f"reproduced by its seed: `evolve run TASK --seed S`)")
    if any(r.prompt_digest is None for r in rows):
        raise UserError(f"{label} was recorded by an evolve without request digests in its call log; "
                        f"it cannot be replayed")
    return [RecordedCall(r.iteration, r.provider, r.model, r.prompt_digest, dict(r.sampling or {}), r.outcome,
                         r.error, r.response, r.response_id, r.stop, r.stop_reason, r.tokens_in, r.tokens_out,
                         r.retryable, r.permanent) for r in rows]


class Recording:
    """A campaign's recorded calls, queued by request key; consumed as the replay asks."""

    def __init__(self, source: ReplaySource, calls: list[RecordedCall]):
        self.label = _source_name(source)
        self.queues: dict[tuple, collections.deque[RecordedCall]] = collections.defaultdict(collections.deque)
        self.by_iteration: dict[int | None, list[RecordedCall]] = collections.defaultdict(list)
        for call in calls:
            self.queues[call.key].append(call)
            self.by_iteration[call.iteration].append(call)
        self.iterations = sorted(i for i in self.by_iteration if i is not None)

    @classmethod
    def load(cls, source: ReplaySource) -> "Recording":
        archive = _open(source.db)
        try:
            label = _source_name(source)
            try:
                record = archive.campaign(source.campaign)
            except ArchiveError as exc:
                raise UserError(f"replay source: {exc}") from None
            return cls(source, _recorded_calls(archive, record.id, label))
        finally:
            archive.close()

    def answer(self, iteration: int | None, model: ModelConfig, system: str,
               messages: list[dict[str, str]]) -> RecordedCall:
        digest = prompt_digest([{"role": "system", "content": system}, *messages])
        params = sampling(model)
        queue = self.queues.get(_key(iteration, model.provider, model.model, digest, params))
        if not queue:
            raise ReplayMismatch(self._miss(iteration, model, digest, params))
        return queue.popleft()

    def _miss(self, iteration: int | None, model: ModelConfig, digest: str, params: dict[str, Any]) -> str:
        head = f"replay of {self.label}: iteration {iteration}: the request to {model.name} was never recorded"
        recorded = self.by_iteration.get(iteration, [])
        if not recorded:
            span = f"iterations {self.iterations[0]}-{self.iterations[-1]}" if self.iterations else "no iteration"
            return f"{head}: the recording has no LLM request at iteration {iteration} (its requests cover {span})"
        same_model = [c for c in recorded if (c.provider, c.model) == (model.provider, model.model)]
        if not same_model:
            asked = ", ".join(sorted({f"{c.provider}:{c.model}" for c in recorded}))
            return f"{head}: the recording asked {asked} at this iteration"
        same_params = [c for c in same_model if c.sampling == params]
        if not same_params:
            return (f"{head}: sampling {json.dumps(params, sort_keys=True)} differs from the recorded "
                    f"{json.dumps(same_model[0].sampling, sort_keys=True)}")
        if any(c.prompt_digest == digest for c in same_params):
            times = sum(c.prompt_digest == digest for c in same_params)
            return f"{head} more than {times} time(s): the recording made this request only {times} time(s)"
        recorded_digests = ", ".join(dict.fromkeys(c.prompt_digest[:12] for c in same_params))
        return (f"{head}: its prompt (digest {digest[:12]}) differs from the recorded one(s) ({recorded_digests}); "
                f"templates, selection settings or the scores the prompt shows differ from the recorded campaign")


class ReplayProvider:
    """A provider answering from a Recording (the interface of providers.Provider)."""

    def __init__(self, model: ModelConfig, recording: Recording):
        self.model = model
        self.recording = recording

    async def complete(self, system: str, messages: list[dict[str, str]], *, iteration: int | None = None) -> Reply:
        call = self.recording.answer(iteration, self.model, system, messages)
        if call.stop is None:  # the server gave no answer then: the same failure now
            raise CallFailure(call.outcome, call.error or call.outcome, retryable=bool(call.retryable),
                              permanent=bool(call.permanent))
        return Reply(text=call.response or "", tokens_in=call.tokens_in, tokens_out=call.tokens_out, stop=call.stop,
                     stop_reason=call.stop_reason, response_id=call.response_id)

    async def close(self) -> None:
        pass


def replay_providers(source: ReplaySource, models: Iterable[ModelConfig]) -> list[ReplayProvider]:
    """One provider per model, all answering from one recording of `source`."""
    recording = Recording.load(source)
    return [ReplayProvider(model, recording) for model in models]


def check_source(source: ReplaySource) -> None:
    """Fail before a campaign starts when its replay source cannot be replayed (UserError)."""
    Recording.load(source)


def replay_base(db: str, ref: str | None) -> dict[str, Any]:
    """The config of the recorded campaign `ref` of `db`, set to replay it into a new campaign: no name
    of its own, as many iterations as the recording completed in a row (a finished or an interrupted
    campaign), the replay source set."""
    from sqlalchemy.engine import make_url

    from archive.db import database_url, display_url

    url = database_url(db)
    if not url.startswith("sqlite") and make_url(url).password is not None:
        raise UserError(f"--replay {display_url(db)}: the source is stored with the new campaign (a resume reads it "
                        f"again), so it must not hold a password: put it in PGPASSWORD or ~/.pgpass instead")
    archive = _open(db)
    try:
        if ref is None:
            campaigns = archive.campaigns()
            if len(campaigns) != 1:
                names = ", ".join(c.name for c in campaigns) or "none"
                raise UserError(f"--replay {display_url(db)} holds {len(campaigns)} campaigns ({names}); "
                                f"name one with --replay-campaign")
            record = campaigns[0]
        else:
            try:
                record = archive.campaign(ref)
            except ArchiveError as exc:
                raise UserError(f"--replay-campaign: {exc}") from None
        source = ReplaySource(db=db, campaign=record.id, name=record.name)
        _recorded_calls(archive, record.id, _source_name(source))
        # iterations the recording completed: a program that was still being evaluated when the recorded
        # campaign was interrupted has no outcome to reproduce
        done = archive.iterations_done(record.id) - {p.iteration for p in archive.pending_programs(record.id)}
    finally:
        archive.close()
    completed = 0
    while completed + 1 in done:
        completed += 1
    stored_db = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url  # a path absolute: resumable elsewhere
    config = dict(record.config)
    config["name"] = None
    config["iterations"] = max(completed, 1)
    config["llm_options"] = {**config.get("llm_options", {}),
                             "replay": {"db": stored_db, "campaign": record.id, "name": record.name}}
    return config
