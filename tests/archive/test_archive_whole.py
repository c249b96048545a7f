"""The archive is whole on disk when a command ends: the bare SQLite file, copied without its -wal/-shm,
holds the whole campaign, after a finished `evolve run` and after one stopped by SIGINT or SIGTERM;
a database without a campaigns table is an error, not an empty listing; `evolve archive --backup`
writes one self-contained file of a SQLite or a PostgreSQL archive (real subprocesses throughout)."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from campaign_digest import campaign_rows
from core_support import evolve_cmd, query


def _evolve(env, *args, check=True):
    out = subprocess.run(evolve_cmd(*args), env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _steady(data):
    """Command output without what moves with the clock (how long ago a campaign was last heard from)."""
    rows = data if isinstance(data, list) else [data, *data.get("campaigns", [])] if isinstance(data, dict) else []
    for row in rows:
        if isinstance(row, dict):
            row.pop("last_seen_s", None)
            row.pop("seen", None)
    return data


def _status(env, db, campaign=None):
    return _steady(json.loads(_evolve(env, "status", *([campaign] if campaign else []), "--db", db, "--json").stdout))


def _decoded(rows):
    """JSON columns as data (a raw query gets text from SQLite, data from PostgreSQL)."""
    return [{k: json.loads(v) if k == "edit" and isinstance(v, str) else v for k, v in r.items()} for r in rows]


def _bare_copy(db, tmp_path) -> str:
    """The .db file alone, as a user copying it would take it."""
    copy = tmp_path / "copy" / os.path.basename(db)
    copy.parent.mkdir()
    shutil.copyfile(db, copy)
    return str(copy)


def test_bare_db_file_holds_the_whole_campaign_after_run(tmp_path, cli_env, toy_task_dir):
    db = str(tmp_path / "evolve.db")
    _evolve(cli_env, "run", "--task-dir", toy_task_dir, "--iterations", 12, "--workers", 1, "--name", "toy",
            "--db", db, "--json")
    assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0
    copy = _bare_copy(db, tmp_path)
    original, copied = _status(cli_env, db, "toy"), _status(cli_env, copy, "toy")
    assert copied["iterations_done"] == 12 and copied["best_score"] is not None
    assert copied == original
    assert campaign_rows(copy, "toy") == campaign_rows(db, "toy")
    best = [_steady(json.loads(_evolve(cli_env, "best", "toy", "--db", d, "--json").stdout)) for d in (db, copy)]
    assert best[0] == best[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_bare_db_file_holds_the_campaign_after_a_signal_mid_run(tmp_path, cli_env, toy_task_dir, sig):
    db = str(tmp_path / "evolve.db")
    proc = subprocess.Popen(evolve_cmd("run", "--task-dir", toy_task_dir, "--iterations", 100000, "--workers", 1,
                                       "--name", "toy", "--db", db, "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
    deadline = time.monotonic() + 120
    while len(query(db, "select id from programs")) < 6:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no programs stored in 120 s"
        time.sleep(0.1)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), proc.returncode
    copy = _bare_copy(db, tmp_path)
    original, copied = _status(cli_env, db, "toy"), _status(cli_env, copy, "toy")
    assert copied["iterations_done"] >= 5 and copied["state"] == "stopped"
    assert copied == original
    assert campaign_rows(copy, "toy") == campaign_rows(db, "toy")


def test_a_database_without_campaigns_is_an_error_and_is_left_as_it_was(tmp_path, cli_env):
    db = tmp_path / "copied.db"
    sqlite3.connect(db).execute("PRAGMA user_version = 0").connection.close()  # an SQLite file with no tables
    before = db.read_bytes()
    for command in (("status",), ("best",), ("archive",), ("status", "1")):
        out = _evolve(cli_env, *command, "--db", str(db), check=False)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert out.stderr.count("\n") == 1 and "no campaigns table" in out.stderr, out.stderr
    assert db.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["copied.db"]


def test_backup_of_a_sqlite_and_a_postgresql_archive_is_one_file_with_the_campaign(tmp_path, cli_env, toy_task_dir,
                                                                                   db_url):
    for name in ("first", "second"):
        _evolve(cli_env, "run", "--task-dir", toy_task_dir, "--iterations", 8, "--workers", 1, "--name", name,
                "--seed", len(name), "--db", db_url, "--json")
    out = tmp_path / "backups"
    out.mkdir()
    one = str(out / "second.db")
    done = json.loads(_evolve(cli_env, "archive", "second", "--backup", one, "--db", db_url, "--json").stdout)
    assert done["campaigns"] == ["second"] and done["bytes"] == os.path.getsize(one)
    every = str(out / "all.db")
    assert json.loads(_evolve(cli_env, "archive", "--backup", every, "--db", db_url, "--json").stdout)["campaigns"] \
        == ["first", "second"]
    assert sorted(os.listdir(out)) == ["all.db", "second.db"]  # no -wal, -journal or partial file beside them
    for backup, names in ((one, ["second"]), (every, ["first", "second"])):
        assert [c["name"] for c in _status(cli_env, backup)] == names
        for name in names:
            assert _status(cli_env, backup, name) == _status(cli_env, db_url, name)
            assert campaign_rows(backup, name) == campaign_rows(db_url, name)
            best = [_steady(json.loads(_evolve(cli_env, "best", name, "--db", d, "--json").stdout))
                    for d in (db_url, backup)]
            assert best[0] == best[1]
            programs = ("select p.id, p.iteration, p.code, p.parent_id, p.state, p.edit from programs p join campaigns c "
                        f"on c.id = p.campaign_id where c.name = '{name}' order by p.id")
            assert _decoded(query(backup, programs)) == _decoded(query(db_url, programs))  # the same ids
    # a backup never overwrites a file
    out = _evolve(cli_env, "archive", "--backup", one, "--db", db_url, check=False)
    assert out.returncode == 2 and "already exists" in out.stderr and out.stderr.count("\n") == 1
