"""LLM record and replay through real `evolve` subprocesses: a campaign recorded against the stand-in
server (tests/llm_server.py, through the real SDKs) re-runs from its call log with the server stopped
and no key set, into another campaign of the same archive and from a file made by `evolve archive
--backup`, and is the same campaign iteration by iteration; a request the recording never made is a
one-line error naming the iteration.

The recording runs with 2 workers and 4 proposals in flight; the replays with other counts (1 and 1,
then 2 and 3): what iteration i asks depends on i alone, so any count reproduces it.
"""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from campaign_digest import campaign_rows
from core_support import ROOT, evolve_cmd, query
from llm_server import FakeLLM

TASK_DIR = ROOT / "bench" / "tasks" / "sleep50"
ITERATIONS = 12
# answers of every kind and failures the client retries; crossover and offline edits in the mix
SCRIPT = ["valid", "unmatched", "valid", "500", "valid", "truncated", "refusal", "valid", "disconnect", "syntax",
          "valid", "outside", "valid"]
CALL_FIELDS = ("iteration", "provider", "model", "operator", "attempt", "outcome", "error", "response", "response_id",
               "stop", "stop_reason", "tokens_in", "tokens_out", "cost_usd", "prompt_digest")


def _offline_env(cli_env):
    """No server and no key: a replay must need neither."""
    return {k: v for k, v in cli_env.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}


def _config(tmp_path, provider) -> Path:
    config = {"llm": [{"provider": provider, "model": "fake-model", "timeout": 5}],
              "prices": {"fake-model": {"input": 3.0, "output": 15.0}},
              "llm_options": {"backoff_s": 0.05, "backoff_max_s": 1.0, "max_retries": 3, "bench_after": 20},
              "mix": {"diff": 0.5, "full_rewrite": 0.2, "crossover": 0.2, "offline": 0.1}}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _server_env(cli_env, fake):
    return dict(cli_env, OPENAI_API_KEY="sk-test", ANTHROPIC_API_KEY="sk-test", OPENAI_BASE_URL=fake.openai_url,
                ANTHROPIC_BASE_URL=fake.anthropic_url)


def _record(tmp_path, cli_env, provider, db) -> None:
    path = _config(tmp_path, provider)
    with FakeLLM(script=SCRIPT) as fake:
        env = _server_env(cli_env, fake)
        out = subprocess.run(evolve_cmd("run", "--task-dir", TASK_DIR, "--config", path, "--iterations", ITERATIONS,
                                        "--workers", 2, "--proposals", 4, "--no-log-prompts", "--name", "recorded",
                                        "--db", db, "--json"), env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert len(fake.served()) >= len(SCRIPT)


def _replay(env, *args, check=True):
    out = subprocess.run(evolve_cmd("run", "--replay", *args, "--json"), env=env, capture_output=True, text=True,
                         timeout=600)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _calls(db, campaign):
    """The campaign's calls by iteration and attempt (with calls in flight at once, the log's own order
    is the order they ended)."""
    rows = query(db, "select l.* from llm_calls l join campaigns c on c.id = l.campaign_id "
                     f"where c.name = '{campaign}' order by l.iteration, l.attempt, l.id")
    return [tuple(r[f] for f in CALL_FIELDS) for r in rows], rows


@pytest.fixture(scope="module", params=["openai", "anthropic"])
def recording(request, tmp_path_factory):
    """An archive holding one LLM campaign recorded against the stand-in server, and its --backup file."""
    tmp_path = tmp_path_factory.mktemp(f"recording-{request.param}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               COLUMNS="200")
    db = str(tmp_path / "recorded.db")
    _record(tmp_path, env, request.param, db)
    backup = str(tmp_path / "shared.db")
    out = subprocess.run(evolve_cmd("archive", "recorded", "--backup", backup, "--db", db), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return db, backup


def test_a_recorded_campaign_replays_identically_without_the_server(recording, tmp_path, cli_env):
    db, backup = recording
    env = _offline_env(cli_env)
    recorded = campaign_rows(db, "recorded")
    calls, rows = _calls(db, "recorded")
    assert len(recorded) == ITERATIONS + 1
    outcomes = {r[5] for r in calls}
    assert {"ok", "edit_error", "truncated", "refused", "server_error", "connection_error"} <= outcomes
    assert {r[2] for r in recorded} >= {"diff", "full_rewrite"}
    assert all(r["prompt"] in (None, "null") and r["prompt_digest"] for r in rows)  # --no-log-prompts: digests only

    # into another campaign of the same archive (its program ids differ from the recording's)
    summary = json.loads(_replay(env, db, "--replay-campaign", "recorded", "--name", "again", "--db", db,
                                 "--workers", 1, "--proposals", 1).stdout)
    assert summary["state"] == "finished" and summary["iterations_done"] == ITERATIONS
    assert campaign_rows(db, "again") == recorded
    assert _calls(db, "again")[0] == calls
    # from the shared file, into a new archive
    elsewhere = str(tmp_path / "elsewhere.db")
    _replay(env, backup, "--name", "shared", "--db", elsewhere, "--workers", 2, "--proposals", 3)
    assert campaign_rows(elsewhere, "shared") == recorded
    assert _calls(elsewhere, "shared")[0] == calls
    status = json.loads(subprocess.run(evolve_cmd("status", "shared", "--db", elsewhere, "--json"), env=env,
                                       capture_output=True, text=True, timeout=120).stdout)
    original = json.loads(subprocess.run(evolve_cmd("status", "recorded", "--db", db, "--json"), env=env,
                                         capture_output=True, text=True, timeout=120).stdout)
    for key in ("iterations_done", "programs", "evaluations", "best_score", "cells_filled", "spend"):
        assert status[key] == original[key], key


def test_a_request_never_recorded_is_a_one_line_error_naming_the_iteration(recording, tmp_path, cli_env):
    db, backup = recording
    env = _offline_env(cli_env)
    # past the end of the recording
    longer = str(tmp_path / "longer.db")
    out = _replay(env, backup, "--iterations", ITERATIONS + 3, "--db", longer, check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    stored = {r["iteration"] for r in query(longer, "select iteration from programs")}
    first_unrecorded = min(set(range(ITERATIONS + 1, ITERATIONS + 4)) - stored)  # offline edits need no answer
    assert f"iteration {first_unrecorded}: the request to " in out.stderr and "never recorded" in out.stderr
    assert campaign_rows(longer, "sleep50-1")[:ITERATIONS + 1] == campaign_rows(db, "recorded")
    # the failed campaign's archive is whole in its file, as after any command that ends in an error
    assert not os.path.exists(longer + "-wal") or os.path.getsize(longer + "-wal") == 0
    # a prompt that differs from the recorded one (another system template): named at iteration 1
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "prompts", templates, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    system = templates / "system.j2"
    system.write_text(system.read_text() + "\nAnswer tersely.\n")
    out = _replay(env, backup, "--templates", templates, "--db", str(tmp_path / "changed.db"), check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    first_llm = min(r["iteration"] for r in query(db, "select iteration from llm_calls"))
    assert f"iteration {first_llm}: the request to " in out.stderr and "prompt (digest" in out.stderr


def test_an_unreplayable_source_is_refused_before_a_campaign_starts(tmp_path, cli_env, toy_task_dir):
    env = _offline_env(cli_env)
    offline = str(tmp_path / "offline.db")
    out = subprocess.run(evolve_cmd("run", "--task-dir", toy_task_dir, "--iterations", 2, "--workers", 1, "--db",
                                    offline, "--json"), env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for args, expected in (((offline,), "made no LLM calls"), ((str(tmp_path / "missing.db"),), "no such archive"),
                           ((offline, "--replay-campaign", "nope"), "no campaign 'nope'"),
                           (("postgresql+psycopg://u:secret@127.0.0.1:9/x",), "must not hold a password")):
        target = str(tmp_path / "target.db")
        out = _replay(env, *args, "--db", target, check=False)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and expected in out.stderr, out.stderr
        assert not Path(target).exists() and "secret" not in out.stderr


def test_a_campaign_killed_mid_run_replays_what_it_completed(tmp_path, cli_env, db_url):
    db = db_url  # a SQLite file, then a PostgreSQL URL as the replay source
    with FakeLLM(script=SCRIPT, latency=0.3) as fake:
        proc = subprocess.Popen(evolve_cmd("run", "--task-dir", TASK_DIR, "--config", _config(tmp_path, "openai"),
                                           "--iterations", 1000, "--workers", 1, "--proposals", 1, "--name", "killed",
                                           "--db", db, "--json"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_server_env(cli_env, fake))
        deadline = time.monotonic() + 300
        while len(query(db, "select id from programs where state != 'pending'")) < 8:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "fewer than 8 programs in 300 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    recorded = [r for r in campaign_rows(db, "killed") if r[4] != "pending"]
    completed = max(r[0] for r in recorded)
    assert [r[0] for r in recorded] == list(range(completed + 1))
    summary = json.loads(_replay(_offline_env(cli_env), db, "--name", "replayed", "--db", db).stdout)
    assert summary["iterations_done"] == completed
    assert campaign_rows(db, "replayed") == recorded


def test_a_replay_killed_mid_run_resumes_to_the_same_campaign(recording, tmp_path, cli_env):
    db, backup = recording
    env = _offline_env(cli_env)
    target = str(tmp_path / "resumed.db")
    proc = subprocess.Popen(evolve_cmd("run", "--replay", backup, "--name", "replay", "--db", target, "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 300
    while len(query(target, "select id from programs where state != 'pending'")) < 4:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "fewer than 4 programs in 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # the schedule may have stored every proposal already (a replay proposes instantly); the kill is mid-run
    # as long as some of them still wait for their verdicts
    assert any(r[4] == "pending" for r in campaign_rows(target, "replay"))
    out = subprocess.run(evolve_cmd("resume", "replay", "--db", target, "--json"), env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert campaign_rows(target, "replay") == campaign_rows(db, "recorded")
