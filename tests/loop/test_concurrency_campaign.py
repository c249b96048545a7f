"""The adaptive proposal window inside real `evolve run` campaigns against the local fake LLM server
(real SDK, real sandbox, real SQLite): exact iterations under 429s, no wide opening on a budget."""
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from core_support import evolve_cmd, query
from llm_server import FakeLLM

TASK_DIR = Path(__file__).resolve().parents[2] / "bench" / "tasks" / "sleep50"


def _run(tmp_path, cli_env, fake, iterations, *extra, **config_extra):
    config = {"llm": [{"provider": "openai", "model": "fake-model", "timeout": 10}],
              "prices": {"fake-model": {"input": 3.0, "output": 15.0}},
              "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0}, **config_extra}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    db = str(tmp_path / "window.db")
    env = dict(cli_env, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.openai_url)
    run = subprocess.run(evolve_cmd("run", "--task-dir", TASK_DIR, "--config", str(path), "--iterations", iterations,
                                    "--workers", 2, "--db", db, "--json", *extra),
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), db


@pytest.mark.slow
def test_rate_limited_server_gets_exactly_one_answered_call_per_iteration(tmp_path, cli_env):
    # latency 0.3 s and ~50 ms evaluations make the window want ~20 calls; the server takes 3 (the window
    # opens at 8, so 5 bounce at once: bench_after 100 keeps the client from benching the model for that)
    with FakeLLM(latency=0.3, max_concurrent=3) as fake:
        summary, db = _run(tmp_path, cli_env, fake, 15,
                           llm_options={"backoff_s": 0.05, "backoff_max_s": 2.0, "max_retries": 20, "bench_after": 100})
        served = fake.served()
    assert summary["state"] == "finished" and summary["iterations_done"] == 15
    answered = [e for e in served if e["status"] == 200]
    bounced = [e for e in served if e["status"] == 429]
    assert len(answered) == 15  # no iteration asked twice, none lost
    assert len(answered) + len(bounced) == len(served)
    rows = query(db, "select outcome from llm_calls")
    assert sorted(r["outcome"] for r in rows) == sorted(["ok"] * 15 + ["rate_limited"] * len(bounced))


@pytest.mark.slow
def test_a_budgeted_campaign_sends_one_call_per_worker_until_a_reply_prices_one(tmp_path, cli_env):
    with FakeLLM(latency=0.5) as fake:
        summary, db = _run(tmp_path, cli_env, fake, 30, "--budget-usd", 1.0)
    assert summary["state"] == "finished"
    rows = query(db, "select started_at, created_at from llm_calls order by id")
    first_logged = min(r["created_at"] for r in rows)
    assert len([r for r in rows if r["started_at"] < first_logged]) <= 2  # 2 workers
