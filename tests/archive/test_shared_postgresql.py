"""One PostgreSQL archive shared by campaigns running at once: real `evolve` subprocesses, a real server."""
import json
import subprocess
import time

import pytest
from sqlalchemy import create_engine, text

from core_support import evolve_cmd

ITERATIONS = 30


def _evolve(env, *args, timeout=300):
    return subprocess.run(evolve_cmd(*args), capture_output=True, text=True, env=env, timeout=timeout)


def _programs_by_campaign(url):
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            rows = con.execute(text(
                "SELECT c.name, p.iteration, p.state, "
                "(SELECT count(*) FROM evaluations e WHERE e.program_id = p.id AND e.split = 'train') "
                "FROM programs p JOIN campaigns c ON c.id = p.campaign_id ORDER BY c.name, p.iteration")).all()
    finally:
        engine.dispose()
    found = {}
    for name, iteration, state, train_evaluations in rows:
        found.setdefault(name, []).append((iteration, state, train_evaluations))
    return found


def _watch_live(url, names, procs):
    """What the TUI's loaders read while both campaigns write; returns the progress seen per campaign."""
    from archive import Archive
    from evolve.tui.data import load_campaigns, load_dashboard, load_elite_map

    archive = Archive(url)
    seen = {name: set() for name in names}
    try:
        while any(p.poll() is None for p in procs):
            for row in load_campaigns(archive):
                if row.name in seen:
                    dashboard = load_dashboard(archive, row.id)
                    assert dashboard.stats["iterations_done"] <= ITERATIONS
                    seen[row.name].add(dashboard.stats["iterations_done"])
                    if dashboard.stats["cells_filled"]:
                        assert load_elite_map(archive, row.id).elites
            time.sleep(0.2)
    finally:
        archive.close()
    return seen


@pytest.mark.slow
def test_two_campaigns_write_one_archive_at_once(pg_url, cli_env, toy_task_dir, tmp_path):
    names = ("east", "west")
    procs = [subprocess.Popen(evolve_cmd("run", "--task-dir", toy_task_dir, "--iterations", ITERATIONS,
                                         "--workers", 2, "--seed", seed, "--name", name, "--db", pg_url, "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
             for seed, name in enumerate(names)]
    seen = _watch_live(pg_url, names, procs)
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert json.loads(out)["state"] == "finished"
    assert all(len(progress) >= 2 for progress in seen.values()), f"the live view never moved: {seen}"

    programs = _programs_by_campaign(pg_url)
    assert set(programs) == set(names)
    for name in names:
        iterations = [i for i, _, _ in programs[name]]
        assert iterations == list(range(ITERATIONS + 1)), f"{name}: every iteration exactly once"
        for iteration, state, train_evaluations in programs[name]:
            assert train_evaluations == (1 if state == "evaluated" else 0), (name, iteration, state)

    listing = json.loads(_evolve(cli_env, "status", "--db", pg_url, "--json").stdout)
    assert sorted(c["name"] for c in listing) == list(names)
    for name in names:
        status = json.loads(_evolve(cli_env, "status", name, "--db", pg_url, "--json").stdout)
        assert status["state"] == "finished" and status["iterations_done"] == ITERATIONS
        best = json.loads(_evolve(cli_env, "best", name, "--db", pg_url, "--json").stdout)
        assert best["score"] == status["best_score"] and "def f" in best["code"]
        out = tmp_path / f"{name}.py"
        exported = _evolve(cli_env, "export", name, "--best", "--out", out, "--db", pg_url, "--json")
        assert exported.returncode == 0, exported.stderr
        assert "def f" in out.read_text() and "postgresql+psycopg://" in out.read_text()
    text_status = _evolve(cli_env, "status", "--db", pg_url)
    assert text_status.returncode == 0 and "east" in text_status.stdout and "west" in text_status.stdout


@pytest.mark.slow
def test_bad_database_urls_are_one_line_errors(pg_admin_url, cli_env):
    from sqlalchemy.engine import make_url

    server = make_url(pg_admin_url)
    missing_db = server.set(database="no_such_archive", password="s3cret").render_as_string(hide_password=False)
    cases = [
        (missing_db, 'database "no_such_archive" does not exist'),
        ("postgresql+psycopg://evolve:s3cret@127.0.0.1:1/x", "Connection refused"),
        ("nosuchdialect://host/db", "unknown database dialect 'nosuchdialect'"),
    ]
    for url, fragment in cases:
        result = _evolve(cli_env, "status", "--db", url)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and fragment in lines[0], result.stderr
        assert "s3cret" not in result.stderr
