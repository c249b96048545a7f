"""Liveness across hosts on a real PostgreSQL server: claims, heartbeats, `status` / `best` / the TUI's
campaign list showing running / stale, and `resume` refusing a live campaign and taking over a stale one.

A controller on "another machine" is played by a real controller whose row is then made to name
another host: its PID says nothing here, only its heartbeat does.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from core_support import ROOT, evolve_cmd

SLOW_TASK = ROOT / "tests" / "fixtures" / "ray_slow_task"  # 0.4 s per evaluation on the trusted side
FAST_LIVENESS = "archive:\n  heartbeat_s: 0.5\n  stale_after_s: 6\n  outage_grace_s: 3\n"


def _sql(url: str, statement: str, **params):
    engine = create_engine(url)
    try:
        with engine.begin() as con:
            result = con.execute(text(statement), params)
            return [tuple(r) for r in result] if result.returns_rows else None
    finally:
        engine.dispose()


def _json(env, *args) -> dict | list:
    done = subprocess.run(evolve_cmd(*args, "--json"), capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _listing(env, db) -> list:
    """`evolve status --json`, or [] while the campaign's process has not created the archive yet."""
    done = subprocess.run(evolve_cmd("status", "--db", db, "--json"), capture_output=True, text=True, env=env,
                          timeout=120)
    return json.loads(done.stdout) if done.returncode == 0 else []


def _create_campaign(url: str, tmp_path: Path, iterations: int) -> int:
    """A stored campaign nobody runs yet (what `evolve run` stores before its loop starts)."""
    config = tmp_path / "campaign.yaml"
    config.write_text(FAST_LIVENESS)
    code = ("import sys; from evolve.campaign import Campaign, open_archive; from evolve.config import build_config; "
            f"c = Campaign.create(open_archive(sys.argv[1], must_exist=False), build_config(sys.argv[2], "
            f"{{'task_dir': sys.argv[3], 'iterations': {iterations}, 'workers': 1, 'seed': 5}})); print(c.id)")
    done = subprocess.run([sys.executable, "-c", code, url, str(config), str(SLOW_TASK)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip())


def _assert_every_iteration_once(url: str, campaign_id: int, iterations: int) -> None:
    rows = _sql(url, "SELECT p.iteration, count(e.id) FROM programs p LEFT JOIN evaluations e ON e.program_id = p.id "
                     "AND e.role = 'train' WHERE p.campaign_id = :c GROUP BY p.iteration ORDER BY p.iteration",
                c=campaign_id)
    assert [r[0] for r in rows] == list(range(iterations + 1))
    assert all(r[1] == 1 for r in rows), rows


# ---- the claim itself: one UPDATE, decided by its row count --------------------------------------

CLAIMER = """
import sys, time
from archive import Archive
from archive.liveness import Claim
archive = Archive(sys.argv[1])
start = float(sys.argv[3])
archive.holder(int(sys.argv[2]))  # connected before the start, so all UPDATEs go out together
while time.time() < start:
    pass
print("won" if isinstance(archive.claim_campaign(int(sys.argv[2]), 60.0), Claim) else "lost", flush=True)
"""


def test_processes_claiming_one_campaign_at_once_on_postgresql_exactly_one_wins(pg_url, tmp_path, cli_env):
    campaign_id = _create_campaign(pg_url, tmp_path, iterations=3)
    for round_ in range(5):
        _sql(pg_url, "UPDATE campaigns SET state = 'stopped', claim_id = NULL WHERE id = :c", c=campaign_id)
        start = time.time() + 4.0
        claimers = [subprocess.Popen([sys.executable, "-c", CLAIMER, pg_url, str(campaign_id), str(start)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
                    for _ in range(4)]
        outcomes = [c.communicate(timeout=120) for c in claimers]
        assert all(c.returncode == 0 for c in claimers), [err[-1000:] for _, err in outcomes]
        assert sorted(out.strip() for out, _ in outcomes) == ["lost", "lost", "lost", "won"], (round_, outcomes)
        state, claim = _sql(pg_url, "SELECT state, claim_id FROM campaigns WHERE id = :c", c=campaign_id)[0]
        assert state == "running" and claim


def test_two_resumes_racing_on_postgresql_exactly_one_runs(pg_url, tmp_path, cli_env):
    campaign_id = _create_campaign(pg_url, tmp_path, iterations=4)
    resumes = [subprocess.Popen(evolve_cmd("resume", campaign_id, "--db", pg_url, "--json"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=cli_env) for _ in range(2)]
    outcomes = [r.communicate(timeout=300) for r in resumes]
    codes = sorted(r.returncode for r in resumes)
    assert codes == [0, 2], [err[-2000:] for _, err in outcomes]
    loser = next(err for r, (_, err) in zip(resumes, outcomes) if r.returncode == 2)
    lines = loser.strip().splitlines()
    winner = next(r for r in resumes if r.returncode == 0)
    assert len(lines) == 1 and "Traceback" not in loser, loser[-2000:]
    assert lines[0].startswith("evolve: error: campaign ") and " is running on host " in lines[0]
    assert f"(pid {winner.pid})" in lines[0] and "last seen" in lines[0]
    assert _sql(pg_url, "SELECT state FROM campaigns WHERE id = :c", c=campaign_id) == [("finished",)]
    _assert_every_iteration_once(pg_url, campaign_id, 4)


# ---- status, best, resume from the heartbeat ------------------------------------------------------

def _wait_for(predicate, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


def test_status_best_and_resume_follow_the_heartbeat_across_hosts(pg_url, tmp_path, cli_env):
    from evolve.tui.data import load_campaigns
    from archive import Archive

    config = tmp_path / "campaign.yaml"
    config.write_text(FAST_LIVENESS)
    run = subprocess.Popen(evolve_cmd("run", "--task-dir", SLOW_TASK, "--config", config, "--iterations", 40,
                                      "--workers", 1, "--seed", 2, "--db", pg_url, "--json"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
    try:
        listing = _wait_for(lambda: [r for r in _listing(cli_env, pg_url)
                                     if r["liveness"] == "running" and r["evaluated"] >= 2], timeout=120)
        row = listing[0]
        assert row["pid"] == run.pid and row["host"] and row["last_seen_s"] < 6
        assert row["seen"].startswith(f"running on {row['host']} (pid {run.pid}), last seen ")
        best = _json(cli_env, "best", "--db", pg_url)
        assert best["liveness"] == "running" and best["pid"] == run.pid
        archive = Archive(pg_url)
        tui_row = load_campaigns(archive)[0]
        assert tui_row.alive and tui_row.liveness.state == "running" and tui_row.liveness.pid == run.pid

        refused = subprocess.run(evolve_cmd("resume", row["id"], "--db", pg_url), capture_output=True, text=True,
                                 env=cli_env, timeout=120)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr[-2000:]
        assert f"is running on host {row['host']} (pid {run.pid})" in refused.stderr

        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    # As if it had run on another machine: its PID says nothing here, only the heartbeat counts.
    _sql(pg_url, "UPDATE campaigns SET host = 'gpu-node-7' WHERE id = :c", c=row["id"])
    seen = _json(cli_env, "status", str(row["id"]), "--db", pg_url)
    if seen["last_seen_s"] < 4:  # still fresh: a resume now is refused
        assert seen["liveness"] == "running"
        refused = subprocess.run(evolve_cmd("resume", row["id"], "--db", pg_url), capture_output=True, text=True,
                                 env=cli_env, timeout=120)
        assert refused.returncode == 2 and "is running on host gpu-node-7" in refused.stderr, refused.stderr[-2000:]
    stale = _wait_for(lambda: (lambda s: s if s["liveness"] == "stale" else None)(
        _json(cli_env, "status", str(row["id"]), "--db", pg_url)), timeout=60, step=0.5)
    assert stale["state"] == "running" and stale["last_seen_s"] > 6
    assert stale["seen"].startswith(f"stale on gpu-node-7 (pid {run.pid}), last seen ")
    tui_row = load_campaigns(archive)[0]
    assert not tui_row.alive and tui_row.liveness.state == "stale"
    archive.close()

    resumed = subprocess.run(evolve_cmd("resume", row["id"], "--db", pg_url, "--json"), capture_output=True, text=True,
                             env=cli_env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = _json(cli_env, "status", str(row["id"]), "--db", pg_url)
    assert final["liveness"] == "finished" and final["seen"] == "finished"
    _assert_every_iteration_once(pg_url, row["id"], 40)


def test_a_campaign_killed_on_this_host_resumes_at_once(tmp_path, cli_env):
    """Its PID is gone on this very host: no need to wait out the stale limit."""
    db = tmp_path / "archive.db"
    config = tmp_path / "campaign.yaml"
    config.write_text("archive:\n  heartbeat_s: 1\n  stale_after_s: 600\n")
    run = subprocess.Popen(evolve_cmd("run", "--task-dir", SLOW_TASK, "--config", config, "--iterations", 8,
                                      "--workers", 1, "--db", db, "--json"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
    try:
        _wait_for(lambda: [r for r in _listing(cli_env, db) if r["evaluated"] >= 2], timeout=120)
    finally:
        run.kill()
        run.wait()
    listing = _json(cli_env, "status", "--db", db)
    assert listing[0]["state"] == "running" and listing[0]["liveness"] == "stale"
    resumed = subprocess.run(evolve_cmd("resume", "1", "--db", db, "--json"), capture_output=True, text=True,
                             env=cli_env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_every_iteration_once(f"sqlite:///{db}", 1, 8)


def test_stale_limit_must_outlast_the_outage_grace(tmp_path, cli_env):
    config = tmp_path / "campaign.yaml"
    config.write_text("archive:\n  stale_after_s: 30\n  outage_grace_s: 60\n")
    done = subprocess.run(evolve_cmd("run", "--task-dir", SLOW_TASK, "--config", config, "--db", tmp_path / "x.db"),
                          capture_output=True, text=True, env=cli_env, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr[-2000:]
    assert "archive.stale_after_s (30) must exceed outage_grace_s + 2 x heartbeat_s (70)" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_process_taken_for_dead_cannot_overwrite_its_successor(tmp_path):
    """A claims, goes silent past the stale limit, B takes over: A's beats report the loss and A's
    state changes no longer apply."""
    from archive import Archive
    from archive.liveness import Claim, Holder

    db = str(tmp_path / "archive.db")
    a, b = Archive(db), Archive(db)
    campaign = a.create_campaign(name="c", task_name="toy", task_dir=None, config={}, seed=0, iterations=1)
    first = a.claim_campaign(campaign.id, stale_after_s=30)
    assert isinstance(first, Claim) and a.beat(first)
    held = b.claim_campaign(campaign.id, stale_after_s=30)
    assert isinstance(held, Holder) and held.state == "running" and held.last_seen_s < 30
    _sql(f"sqlite:///{db}", "UPDATE campaigns SET heartbeat_at = datetime('now', '-60 seconds')")
    second = b.claim_campaign(campaign.id, stale_after_s=30)
    assert isinstance(second, Claim) and second.claim_id != first.claim_id
    assert not a.beat(first) and b.beat(second)
    a.set_state(campaign.id, "finished")
    assert b.campaign(campaign.id).state == "running" and b.campaign(campaign.id).claim_id == second.claim_id
    b.set_state(campaign.id, "finished")
    assert a.campaign(campaign.id).state == "finished"
    a.close()
    b.close()
