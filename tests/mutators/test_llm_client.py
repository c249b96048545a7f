"""The LLM mutator through the real openai / anthropic SDKs against a local fake server (tests/llm_server.py):
every scripted behaviour ends in the right call-log outcome and the right Edit."""
import asyncio
import random
import time
from pathlib import Path

import pytest

from archive import Archive
from evaluators.task import load_task
from evolve.config import build_config
from evolve.mutators import MutatorFailed, ProgramView, StopCampaign, build_mutator
from evolve.mutators.base import MutationContext
from evolve.mutators.llm import LLMMutator, MixMutator
from llm_server import FakeLLM

TASK_DIR = Path(__file__).resolve().parents[2] / "bench" / "tasks" / "sleep50"
PROVIDERS = ["openai", "anthropic"]


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


@pytest.fixture
def archive(tmp_path):
    archive = Archive(str(tmp_path / "calls.db"))
    yield archive
    archive.close()


def _setup(archive, fake, provider, monkeypatch, **overrides):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-456")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.anthropic_url)
    options = {"max_retries": 3, "backoff_s": 0.05, "backoff_max_s": 2.0, **overrides.pop("llm_options", {})}
    config = build_config(None, {"task_dir": str(TASK_DIR), "llm": overrides.pop("llm", [f"{provider}:fake-model"]),
                                 "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0},
                                 "llm_options": options, **overrides})
    campaign = archive.create_campaign(name=None, task_name="sleep50", task_dir=str(TASK_DIR),
                                       config=config.model_dump(mode="json"), seed=0, iterations=10)
    return config, campaign.id


def _context(iteration=1, seed=0):
    task = load_task(None, str(TASK_DIR))
    parent = ProgramView(id=1, code=task.seed_code, score=-0.15, metrics={"mse": 0.15},
                         artifacts={"traceback": "Traceback: something odd"}, generation=0, island=0)
    other = ProgramView(id=2, code=task.seed_code.replace("0.25", "0.3"), score=-0.1, metrics={"mse": 0.1},
                        artifacts={}, generation=1, island=0)
    return MutationContext(task=task, parent=parent, inspirations=[other], rng=random.Random(seed),
                           iteration=iteration, recent=[{"operator": "diff", "mutator": "openai:x", "state": "evaluated",
                                                         "parent_id": 1, "status": "ok", "score": -0.2}],
                           empty_cells=["0,0", "0,1"], descriptor_names=["mse", "code_size"])


def _propose(archive, campaign_id, config, operator="diff", iteration=1):
    async def go():
        mutator = build_mutator(config, archive, campaign_id)
        try:
            return await mutator.llm.propose(_context(iteration), operator)
        finally:
            await mutator.close()
    return asyncio.run(go())


def _calls(archive, campaign_id):
    return archive.llm_calls(campaign_id)


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_multi_block_edit_is_applied_and_logged(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch)
    fake.script = ["multi"]
    edit = _propose(archive, cid, config)
    assert edit.code is not None and edit.error is None
    assert edit.mutator == f"{provider}:fake-model" and edit.details["blocks"] == 2
    assert edit.code != _context().parent.code and "EVOLVE-BLOCK-START" in edit.code
    (call,) = _calls(archive, cid)
    assert (call.provider, call.model, call.outcome, call.error) == (provider, "fake-model", "ok", None)
    served = fake.served()[0]
    assert served["wire"] == provider and call.response_id == served["response_id"]
    assert (call.tokens_in, call.tokens_out) == (served["tokens_in"], served["tokens_out"]) and call.tokens_in > 100
    assert edit.details["calls"] == [call.id]
    # the prompt carried the context the issue asks for
    prompt = "\n".join(m["content"] for m in call.prompt)
    for expected in ("sleep50", "def f(x: float) -> float", "Traceback: something odd", "Program 2",
                     "Recent attempts", "0,1", "<<<<<<< SEARCH", "EVOLVE-BLOCK"):
        assert expected in prompt, expected


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("bad, kind", [("unmatched", "unmatched"), ("outside", "outside_block"), ("syntax", "syntax")])
def test_failed_apply_retries_once_with_the_error_in_the_prompt(archive, fake, provider, monkeypatch, bad, kind):
    config, cid = _setup(archive, fake, provider, monkeypatch)
    fake.script = [bad, "valid"]
    edit = _propose(archive, cid, config)
    assert edit.code is not None and edit.details["rounds"] == 2
    first, second = _calls(archive, cid)
    assert first.outcome == "edit_error" and first.error.startswith(f"{kind}:")
    assert second.outcome == "ok"
    # the retry carried the failed answer and the error back to the model
    assert second.prompt[-2]["role"] == "assistant" and second.prompt[-2]["content"] == first.response
    assert first.error in second.prompt[-1]["content"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_is_bounded_and_the_edit_fails_with_the_last_error(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch, llm_options={"edit_retries": 2})
    fake.script = ["unmatched", "outside", "syntax", "valid"]
    edit = _propose(archive, cid, config)
    assert edit.code is None and edit.error.startswith("syntax:")
    assert [c.outcome for c in _calls(archive, cid)] == ["edit_error"] * 3
    assert len(fake.served()) == 3  # never a fourth request


@pytest.mark.parametrize("provider", PROVIDERS)
def test_truncated_answer_is_a_failure_then_retried(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch, llm_options={"edit_retries": 0})
    fake.script = ["truncated"]
    edit = _propose(archive, cid, config)
    assert edit.code is None and edit.error.startswith("truncated:")
    (call,) = _calls(archive, cid)
    assert call.outcome == "truncated" and call.stop_reason in ("length", "max_tokens") and call.tokens_out > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_refusal_is_a_failure_and_not_retried(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch)
    fake.script = ["refusal", "valid"]
    edit = _propose(archive, cid, config)
    assert edit.code is None and edit.error.startswith("refused:")
    assert [c.outcome for c in _calls(archive, cid)] == ["refused"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_honours_retry_after_and_500_is_retried(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch)
    fake.script = ["429", "500", "valid"]
    edit = _propose(archive, cid, config)
    assert edit.code is not None
    limited, failed, ok = _calls(archive, cid)
    assert (limited.outcome, limited.attempt, limited.tokens_in, limited.cost_usd) == ("rate_limited", 0, 0, 0.0)
    assert (failed.outcome, failed.attempt) == ("server_error", 1)
    assert (ok.outcome, ok.attempt) == ("ok", 2)
    # Retry-After: 1 was honoured although backoff_s is 0.05
    assert (failed.started_at - limited.created_at).total_seconds() >= 0.95
    assert (ok.started_at - failed.created_at).total_seconds() < 0.9


@pytest.mark.parametrize("provider", PROVIDERS)
def test_slow_answer_times_out_and_is_retried(archive, fake, provider, monkeypatch):
    fake.slow_s = 3.0
    config, cid = _setup(archive, fake, provider, monkeypatch,
                         llm=[{"provider": provider, "model": "fake-model", "timeout": 0.5}])
    fake.script = ["slow", "valid"]
    started = time.monotonic()
    edit = _propose(archive, cid, config)
    assert edit.code is not None and time.monotonic() - started < 2.5
    timed_out, ok = _calls(archive, cid)
    assert timed_out.outcome == "timeout" and 0.45 <= timed_out.latency_s < 1.5 and "0.5 s" in timed_out.error
    assert ok.outcome == "ok"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retries_exhausted_gives_a_failed_edit_naming_the_error(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch, llm_options={"max_retries": 2, "bench_after": 10})
    fake.script = ["500", "disconnect", "500", "valid"]
    edit = _propose(archive, cid, config)
    assert edit.code is None and "HTTP 500" in edit.error
    assert [c.outcome for c in _calls(archive, cid)] == ["server_error", "connection_error", "server_error"]


def test_rate_limits_sit_a_model_out_for_what_the_server_asked_and_never_bench_it(archive, fake, monkeypatch):
    """Three 429s in a row (Retry-After: 1) with bench_after 2: the only model waits what the server asked
    each time, and is not benched for bench_s (60 s): the call succeeds a few seconds later."""
    config, cid = _setup(archive, fake, "openai", monkeypatch,
                         llm_options={"max_retries": 4, "bench_after": 2, "bench_s": 60, "backoff_s": 0.05})
    fake.script = ["429", "429", "429", "valid"]
    started = time.monotonic()
    edit = _propose(archive, cid, config)
    assert edit.code is not None and time.monotonic() - started < 10
    assert [c.outcome for c in _calls(archive, cid)] == ["rate_limited"] * 3 + ["ok"]
    assert archive.count_events(cid, "model_benched") == 0


def test_a_failing_model_is_benched_and_the_ensemble_continues(archive, fake, monkeypatch):
    config, cid = _setup(archive, fake, "openai", monkeypatch, llm=["openai:flaky", "anthropic:steady"],
                         llm_options={"max_retries": 2, "bench_after": 2, "bench_s": 30, "edit_retries": 0})
    fake.by_model = {"flaky": "500"}
    edits = [_propose(archive, cid, config, iteration=i + 1) for i in range(1)]

    async def go():
        mutator = build_mutator(config, archive, cid)
        try:
            return [await mutator.llm.propose(_context(i + 1, seed=i), "diff") for i in range(12)]
        finally:
            await mutator.close()

    edits = asyncio.run(go())
    calls = [c for c in _calls(archive, cid)]
    flaky = [c for c in calls if c.model == "flaky"]
    # one client: the flaky model fails twice, is benched, and every later request goes to the steady one
    assert 2 <= len(flaky) <= 4 and all(c.outcome == "server_error" for c in flaky)
    assert all(e.code is not None for e in edits)
    assert archive.count_events(cid, "model_benched") >= 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_refused_key_drops_the_model_and_fails_the_campaign_clearly(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch)
    fake.default = "401"

    with pytest.raises(MutatorFailed, match=r"no LLM model can be used: .*HTTP 401: the key in \$\w+_API_KEY"):
        _propose(archive, cid, config)
    assert [c.outcome for c in _calls(archive, cid)] == ["client_error"]  # never asked twice
    assert archive.count_events(cid, "model_dropped") == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_rewrite_and_crossover(archive, fake, provider, monkeypatch):
    config, cid = _setup(archive, fake, provider, monkeypatch)
    rewrite = _propose(archive, cid, config, "full_rewrite")
    cross = _propose(archive, cid, config, "crossover", iteration=2)
    assert rewrite.code is not None and rewrite.operator == "full_rewrite"
    assert cross.code is not None and cross.operator == "crossover" and cross.crossover_id == 2
    prompt = _calls(archive, cid)[-1].prompt[-1]["content"]
    assert "Parent A" in prompt and "Parent B (program 2" in prompt


def test_keys_never_reach_the_database(archive, fake, monkeypatch, tmp_path):
    config, cid = _setup(archive, fake, "openai", monkeypatch, llm=["openai:a", "anthropic:b"])
    fake.script = ["valid", "429", "valid", "valid"]
    for i in range(3):
        _propose(archive, cid, config, iteration=i + 1)
    assert all("secret" in (e["authorization"] or "") for e in fake.served())  # the keys did go to the server
    archive.close()
    raw = (tmp_path / "calls.db").read_bytes() + (tmp_path / "calls.db-wal").read_bytes() \
        if (tmp_path / "calls.db-wal").exists() else (tmp_path / "calls.db").read_bytes()
    assert b"secret" not in raw


def test_prompts_can_be_kept_out_of_the_call_log(archive, fake, monkeypatch):
    config, cid = _setup(archive, fake, "anthropic", monkeypatch, llm_options={"log_prompts": False})
    fake.script = ["429", "valid"]
    _propose(archive, cid, config)
    calls = _calls(archive, cid)
    assert [c.outcome for c in calls] == ["rate_limited", "ok"]
    assert all(c.prompt is None for c in calls) and calls[-1].response


def test_budget_stops_new_calls(archive, fake, monkeypatch):
    config, cid = _setup(archive, fake, "openai", monkeypatch, budget={"tokens": 1000},
                         mix={"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 1})

    async def go():
        mutator = build_mutator(config, archive, cid)
        assert isinstance(mutator, MixMutator) and isinstance(mutator.llm, LLMMutator)
        try:
            for i in range(50):
                await mutator.propose(_context(i + 1, seed=i))
        finally:
            await mutator.close()

    with pytest.raises(StopCampaign, match="1000"):
        asyncio.run(go())
    spend = archive.spend(cid)
    served = sum(e["tokens_in"] + e["tokens_out"] for e in fake.served())
    assert spend["tokens"] == served and spend["tokens"] >= 1000
    # sequential: the call that crossed the cap was the last one
    assert spend["tokens"] - (spend["tokens"] and _calls(archive, cid)[-1].tokens_in + _calls(archive, cid)[-1].tokens_out) < 1000
