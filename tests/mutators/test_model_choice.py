"""Adaptive model choice: a real campaign on the toy task with two models on two local stand-in servers
(real SDKs), one answering usable edits and one answering edits that never apply. Within 40 calls
most calls go to the good model, the bandit's state survives kill -9 and resume, and the per-model statistics `evolve status` shows match the call log."""
import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from archive import Archive
from core_support import evolve_cmd
from evolve.config import CampaignConfig
from evolve.mutators.client import CallLog, LLMClient
from evolve.mutators.model_choice import PRIOR_CALLS, ThompsonChoice, model_report
from llm_server import FakeLLM

TOY = Path(__file__).resolve().parent.parent / "fixtures" / "toy_task"
PRICE = {"input": 3.0, "output": 15.0}


def _row(provider, model, calls, improved, pending=0, usd=1.0, tokens=1000):
    return {"provider": provider, "model": model, "calls": calls, "ok": calls, "pending": pending,
            "improved": improved, "usd": usd, "tokens": tokens, "answered": calls}


def _shares(choice, rng, n=2000):
    keys = [("p", "a"), ("p", "b")]
    picks = [choice.pick(keys, rng) for _ in range(n)]
    return picks.count(("p", "a")) / n


def test_weights_are_the_prior_and_evidence_overrides_them():
    choice = ThompsonChoice({("p", "a"): 3.0, ("p", "b"): 1.0}, priced=True)
    rng = random.Random(0)
    assert _shares(choice, rng) > 0.6  # no calls yet: the heavier model is preferred
    choice.update([_row("p", "a", 20, 0), _row("p", "b", 20, 10)])
    assert _shares(choice, rng) < 0.05  # a's 20 calls never improved anything, b's half did


def test_pending_calls_carry_no_reward_and_cost_divides_the_rate():
    choice = ThompsonChoice({("p", "a"): 1.0, ("p", "b"): 1.0}, priced=True)
    choice.update([_row("p", "a", 30, 0, pending=30), _row("p", "b", 30, 0, pending=30)])
    assert choice.posterior(("p", "a"))[1] == (1.0, 1.0)  # usable answers, no outcome yet
    # the same improvement rate at a tenth of the price per call: the cheap model wins nearly always
    choice.update([_row("p", "a", 40, 10, usd=0.4), _row("p", "b", 40, 10, usd=4.0)])
    assert _shares(choice, random.Random(1)) > 0.9


def test_unusable_answers_count_before_any_child_is_evaluated():
    choice = ThompsonChoice({("p", "a"): 1.0, ("p", "b"): 1.0}, priced=True)
    unusable = _row("p", "a", 6, 0) | {"ok": 0}
    waiting = _row("p", "b", 6, 0, pending=6)  # every answer applied, no child evaluated yet
    choice.update([unusable, waiting])
    assert _shares(choice, random.Random(2)) < 0.1


def test_a_model_without_evaluated_children_is_assumed_to_improve_as_often_as_the_others():
    choice = ThompsonChoice({("p", "a"): 1.0, ("p", "b"): 1.0}, priced=False)
    assert choice.posterior(("p", "b"))[1] == (1.0, 1.0)  # nothing resolved anywhere: uniform
    # a's 18 evaluated children improved nothing; b's edits never applied, so none of b's was evaluated
    choice.update([_row("p", "a", 18, 0), _row("p", "b", 8, 0) | {"ok": 0}])
    a2, b2 = choice.posterior(("p", "b"))[1]
    assert a2 / (a2 + b2) == pytest.approx(1 / 20)  # a's smoothed rate, not 1/2
    assert a2 + b2 == pytest.approx(PRIOR_CALLS)
    assert choice.posterior(("p", "a"))[1] == (1.0, 19.0)  # a's own data only: b has nothing resolved
    # with every answer of b unusable, a wins nearly every draw although it improved nothing yet
    assert _shares(choice, random.Random(3)) > 0.95


def test_the_choice_is_reproducible_from_the_seed():
    rows = [_row("p", "a", 10, 3), _row("p", "b", 10, 4)]
    runs = []
    for _ in range(2):
        choice = ThompsonChoice({("p", "a"): 1.0, ("p", "b"): 2.0}, priced=False)
        choice.update(rows)
        rng = random.Random(7)
        runs.append([choice.pick([("p", "a"), ("p", "b")], rng) for _ in range(50)])
    assert runs[0] == runs[1]


def test_report_rates_and_unit():
    [row] = model_report([_row("p", "a", 10, 2, pending=2, usd=0.5, tokens=2_000_000) | {"ok": 8}], priced=False)
    assert (row["ok_rate"], row["improvement_rate"], row["cost_unit"]) == (0.8, 0.25, "Mtokens")
    assert row["improved_per_unit"] == pytest.approx(1.0)  # 2 improvements over 2 M tokens


def _log_stats(db):
    """Per-model figures computed straight from the call log and the events, independently of the archive code."""
    with sqlite3.connect(db) as con:
        improved = {pid for (pid,) in con.execute(
            "select program_id from events where kind in ('new_elite', 'new_best') and program_id is not null")}
        states = dict(con.execute("select id, state from programs"))
        out = {}
        for model, outcome, program_id, cost in con.execute(
                "select model, outcome, program_id, cost_usd from llm_calls order by id"):
            m = out.setdefault(model, {"calls": 0, "ok": 0, "pending": 0, "improved": 0, "usd": 0.0})
            m["calls"] += 1
            m["usd"] += cost
            if outcome == "ok":
                m["ok"] += 1
                m["pending"] += program_id is None or states.get(program_id) == "pending"
                if program_id in improved:
                    m.setdefault("children", set()).add(program_id)
    for m in out.values():
        m["improved"] = len(m.pop("children", ()))  # distinct children: one per iteration after a resume
    return out


def _others_prior(others):
    """The improvement factor's prior, written out from the documented rule: the other models' smoothed
    rate, worth their resolved calls plus two, at most PRIOR_CALLS."""
    improved = sum(f["improved"] for f in others)
    resolved = sum(f["ok"] - f["pending"] for f in others)
    strength = min(2 + resolved, PRIOR_CALLS)
    return strength * (1 + improved) / (2 + resolved), strength * (1 - (1 + improved) / (2 + resolved))


def _wait_for_calls(db, count, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            with sqlite3.connect(db) as con:
                if con.execute("select count(*) from llm_calls").fetchone()[0] >= count:
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} calls logged in {timeout} s")


def _bandit_after_restart(db, env, monkeypatch):
    """The posterior a fresh client (what `evolve resume` builds) reads back from the archive."""
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(key, env[key])
    archive = Archive(db)
    try:
        record = archive.campaign("bandit")
        client = LLMClient(CampaignConfig.model_validate(record.config), CallLog(archive, record.id))

        async def read():
            try:
                await client._refresh_counts()
            finally:
                await client.close()
                client.log.db.close()

        asyncio.run(read())
        return {key[1]: client.choice.posterior(key) for key in client.choice.prior}, client.choice.prior
    finally:
        archive.close()


@pytest.mark.slow
def test_campaign_sends_most_calls_to_the_model_whose_edits_apply(tmp_path, cli_env, monkeypatch):
    with FakeLLM(default="valid") as good, FakeLLM(default="unmatched") as bad:
        config = {"llm": [{"provider": "openai", "model": "good-model", "base_url": good.openai_url, "timeout": 10},
                          {"provider": "anthropic", "model": "bad-model", "base_url": bad.anthropic_url,
                           "timeout": 10}],
                  "prices": {"good-model": PRICE, "bad-model": PRICE},
                  "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0},
                  "llm_options": {"backoff_s": 0.05, "max_retries": 1, "edit_retries": 1}}
        path = tmp_path / "campaign.yaml"
        path.write_text(yaml.safe_dump(config))
        env = dict(cli_env, OPENAI_API_KEY="sk-test", ANTHROPIC_API_KEY="sk-test")
        db = str(tmp_path / "bandit.db")
        proc = subprocess.Popen(evolve_cmd("run", "--task-dir", TOY, "--config", path, "--iterations", 40,
                                           "--workers", 2, "--proposals", 2, "--seed", 3, "--name", "bandit",
                                           "--db", db, "--json"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        _wait_for_calls(db, 16, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # after kill -9 the bandit's state is exactly what the call log and the events say
        posterior, prior = _bandit_after_restart(db, env, monkeypatch)
        stats = _log_stats(db)
        for model, figures in stats.items():
            a, b = prior[("openai" if model == "good-model" else "anthropic", model)]
            resolved_ok = figures["ok"] - figures["pending"]
            a2, b2 = _others_prior([f for m, f in stats.items() if m != model])
            assert posterior[model][0] == (a + figures["ok"], b + figures["calls"] - figures["ok"])
            assert posterior[model][1] == pytest.approx((a2 + figures["improved"],
                                                         b2 + resolved_ok - figures["improved"]))
        run = subprocess.run(evolve_cmd("resume", "bandit", "--db", db, "--json"), env=env, capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["state"] == "finished"
        served_good, served_bad = len(good.served()), len(bad.served())
    with sqlite3.connect(db) as con:
        first = [m for (m,) in con.execute("select model from llm_calls order by id limit 40")]
    assert len(first) == 40
    # most of the first 40 calls: fixed equal weights gave 15-23 (bench_model_choice), the bandit 33-38 over 8
    # seeds (28-33 before the improvement factor's prior followed the other models; a loaded CI run gave 24)
    assert first.count("good-model") >= 26, first
    assert first.count("bad-model") >= 2, first   # the bad model was tried (optimistic prior) before being dropped
    assert first[20:].count("good-model") >= 16, first  # and calls 21-40 go mostly to the good one

    status = subprocess.run(evolve_cmd("status", "bandit", "--db", db, "--json"), env=env, capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    shown = {m["model"]: m for m in json.loads(status.stdout)["models"]}
    expected = _log_stats(db)
    assert set(shown) == set(expected) == {"good-model", "bad-model"}
    for model, figures in expected.items():
        for key in ("calls", "ok", "pending", "improved"):
            assert shown[model][key] == figures[key], (model, key)
        assert shown[model]["usd"] == pytest.approx(figures["usd"])
        assert shown[model]["cost_unit"] == "usd"
    # every request the servers answered is logged, except those in flight at kill -9 (at most 2 proposals)
    lost_good, lost_bad = served_good - shown["good-model"]["calls"], served_bad - shown["bad-model"]["calls"]
    assert lost_good >= 0 and lost_bad >= 0 and lost_good + lost_bad <= 2
    assert shown["bad-model"]["ok"] == 0 and shown["bad-model"]["improved"] == 0
    assert shown["good-model"]["improved"] > 0 and shown["good-model"]["improved_per_unit"] > 0

    plain = subprocess.run(evolve_cmd("status", "bandit", "--db", db), env=dict(env, COLUMNS="80"),
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert all(len(line) <= 80 for line in plain.stdout.splitlines())
    good_line = next(line for line in plain.stdout.splitlines() if "good-model" in line)
    assert f" {shown['good-model']['calls']} " in good_line and "100%" in good_line
