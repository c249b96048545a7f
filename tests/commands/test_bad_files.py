"""Bad files and paths around the archive: one line naming the file, exit 2, nothing touched.

The real CLI in a subprocess against real files; "nothing touched" means the directory tree
(names, sizes, modification times) is the same before and after.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from core_support import ROOT, TOY_TASK, evolve_cmd


def run(args, env, cwd, timeout=300):
    return subprocess.run(evolve_cmd(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def tree(root):
    """Every path under root with its size and modification time (directories included)."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return found


def make_archive(path, campaigns=3, name="c"):
    from archive import Archive

    archive = Archive(str(path))
    for i in range(campaigns):
        archive.create_campaign(name=f"{name}{i}", task_name="binpack_online", task_dir=None,
                                config={"pad": "x" * 3000}, seed=0, iterations=1)
    archive.close()


def damage_pages(path, first_page=2):
    """Overwrite the page headers of every page from `first_page` on (page 1, the header, stays)."""
    data = bytearray(path.read_bytes())
    for offset in range(4096 * (first_page - 1), len(data), 4096):
        data[offset:offset + 12] = b"\xff" * 12
    path.write_bytes(bytes(data))


def _not_sqlite(d):
    (d / "a.db").write_text("these are my notes, not a database\n")


def _random_bytes(d):
    (d / "a.db").write_bytes(bytes(range(256)) * 8)


def _directory(d):
    (d / "a.db").mkdir()


def _truncated(d):
    make_archive(d / "full.db", campaigns=40)
    (d / "a.db").write_bytes((d / "full.db").read_bytes()[:20000])
    (d / "full.db").unlink()


def _damaged_pages(d):
    make_archive(d / "a.db", campaigns=40)
    damage_pages(d / "a.db")


def _damaged_header(d):
    (d / "a.db").write_bytes(b"SQLite format 3\x00" + b"\x00\x01garbage" * 40)


def _foreign_sqlite(d):
    with sqlite3.connect(d / "a.db") as connection:
        connection.execute("CREATE TABLE people (id INTEGER, name TEXT)")
    connection.close()


def _newer_schema(d):
    make_archive(d / "a.db", campaigns=1)
    with sqlite3.connect(d / "a.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()


def _parent_is_a_file(d):
    (d / "sub").write_text("a file where a directory should be\n")


BAD_ARCHIVES = [
    ("a.db", _not_sqlite, "is not an SQLite database"),
    ("a.db", _random_bytes, "is not an SQLite database"),
    ("a.db", _directory, "is a directory"),
    ("a.db", _truncated, ".recover"),
    ("a.db", _damaged_pages, ".recover"),
    ("a.db", _damaged_header, "header is damaged"),
    ("a.db", _foreign_sqlite, "not an evolve archive"),
    ("a.db", _newer_schema, "newer evolve"),
    ("sub/a.db", _parent_is_a_file, "is not a directory"),  # `status` says the archive does not exist
    ("missing/a.db", lambda d: None, "does not exist"),
]


@pytest.mark.parametrize("command", [["status"], ["run", "binpack_online", "--iterations", "1"]])
@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("db, make, fragment", BAD_ARCHIVES,
                         ids=[m.__name__.strip("_") if m.__name__ != "<lambda>" else "missing_directory"
                              for _, m, _ in BAD_ARCHIVES])
def test_a_bad_archive_path_is_one_line_exit_2_and_touches_nothing(tmp_path, cli_env, command, db, make, fragment):
    make(tmp_path)
    before = tree(tmp_path)
    result = run([*command, "--db", db], cli_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    if command == ["status"] and "/" in db:
        fragment = "does not exist"
    assert lines[0].startswith("evolve: error: ") and db in lines[0] and fragment in lines[0], lines[0]
    assert tree(tmp_path) == before


def _shell_can_recover() -> bool:
    if shutil.which("sqlite3") is None:
        return False
    probe = subprocess.run(["sqlite3", ":memory:", "SELECT count(*) FROM sqlite_dbpage"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
def test_the_recover_hint_recovers_a_damaged_archive(tmp_path, cli_env):
    make_archive(tmp_path / "a.db", campaigns=40)
    with sqlite3.connect(tmp_path / "a.db") as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.close()
    damage_pages(tmp_path / "a.db", first_page=pages - 3)  # the last pages: some campaign rows
    result = run(["status", "--db", "a.db"], cli_env, cwd=tmp_path)
    assert result.returncode == 2
    hint = result.stderr.split("recover what is readable with `", 1)[1].split("`", 1)[0]
    assert hint == "sqlite3 a.db .recover | sqlite3 a-recovered.db"
    if not _shell_can_recover():  # Debian 12's sqlite3 3.40.1 is built without it (no sqlite_dbpage)
        return
    subprocess.run(hint, shell=True, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    listing = json.loads(run(["status", "--db", "a-recovered.db", "--json"], cli_env, cwd=tmp_path).stdout)
    assert 0 < len(listing) <= 40 and listing[0]["name"] == "c0"


def _binary(path):
    path.write_bytes(b"\x00\x01\x02task: x\x00" * 20)


def _latin1(path):
    path.write_bytes("task: binpack_online\nname: caf\xe9\n".encode("latin-1"))


def _a_list(path):
    path.write_text("- task: binpack_online\n- iterations: 3\n")


def _a_string(path):
    path.write_text("binpack_online\n")


def _config_dir(path):
    path.mkdir()


def _bad_yaml(path):
    path.write_text("task: binpack_online\n  iterations: [3\n")


BAD_CONFIGS = [
    (_binary, "binary"),
    (_latin1, "not UTF-8 text"),
    (_a_list, "the top level is a list"),
    (_a_string, "the top level is a single string"),
    (_config_dir, "is a directory"),
    (_bad_yaml, "not valid YAML"),
]


@pytest.mark.slow
@pytest.mark.parametrize("make, fragment", BAD_CONFIGS, ids=[m.__name__.strip("_") for m, _ in BAD_CONFIGS])
def test_a_bad_campaign_file_is_one_line_exit_2_and_touches_nothing(tmp_path, cli_env, make, fragment):
    make(tmp_path / "campaign.yaml")
    before = tree(tmp_path)
    result = run(["run", "--config", "campaign.yaml", "--db", "new.db"], cli_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "campaign.yaml" in lines[0] and fragment in lines[0], result.stderr[-3000:]
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_status_needs_an_archive_and_does_not_make_one_of_an_empty_file(tmp_path, cli_env):
    (tmp_path / "empty.db").write_bytes(b"")
    before = tree(tmp_path)
    result = run(["status", "--db", "empty.db"], cli_env, cwd=tmp_path)
    assert result.returncode == 2 and "empty.db (the file is empty)" in result.stderr
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_opening_archives_leaves_nothing_in_the_temp_dir_or_beside_the_archive(tmp_path, cli_env):
    temp = tmp_path / "tmp"
    temp.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    env = {**cli_env, "TMPDIR": str(temp)}
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from archive import Archive\n"
            f"for path in ({str(data / 'one.db')!r}, {str(data / 'two.db')!r}, {str(data / 'one.db')!r}):\n"
            f"    Archive(path).close()\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert run(["status", "--db", str(data / "one.db")], env, cwd=tmp_path).returncode == 0
    assert os.listdir(temp) == []
    assert sorted(os.listdir(data)) == ["one.db", "two.db"]  # no -wal, -shm or lock file either


@pytest.mark.slow
def test_status_fits_an_80_column_terminal(tmp_path, cli_env):
    make_archive(tmp_path / "a.db", campaigns=4, name="a-campaign-with-a-really-quite-long-descriptive-name-")
    result = run(["status", "--db", "a.db"], {**cli_env, "COLUMNS": "80"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    rows = [line for line in lines if line[:1].isdigit()]
    assert len(rows) == 4 and all("a-campaign-with" in row and "created" in row for row in rows), result.stdout
    assert lines[1].split()[:2] == ["id", "name"]


BURNING_SEED = '''import time

_start = time.process_time()
while time.process_time() - _start < 1.0:  # every candidate process spends 1 s of CPU time
    pass

# EVOLVE-BLOCK-START
def f(x):
    y = 0.5 * x + 0.1
    return y
# EVOLVE-BLOCK-END
'''


@pytest.mark.slow
def test_a_campaign_leaves_no_orphan_and_its_candidates_cpu_time_reaches_the_caller(tmp_path, cli_env):
    """Run under a child subreaper, every process the campaign orphans comes to the watcher and
    is counted; candidates' CPU time reaches the watcher's children time only if each process
    up the chain (candidate, zygote, bwrap, worker, controller) was reaped by its parent."""
    task = tmp_path / "task"
    shutil.copytree(TOY_TASK, task)
    (task / "seed.py").write_text(BURNING_SEED)
    spec = (task / "task.yaml").read_text()  # room for the burn on a machine shared with other work
    (task / "task.yaml").write_text(spec.replace("limits: {wall_s: 10, cpu_s: 10,", "limits: {wall_s: 300, cpu_s: 30,"))
    assert "wall_s: 300" in (task / "task.yaml").read_text()
    db = tmp_path / "a.db"
    command = [sys.executable, str(ROOT / "bench" / "reaping.py"), "--db", str(db), "--",
               *evolve_cmd("run", "--task-dir", task, "--iterations", "3", "--workers", "1", "--jail", "bwrap",
                           "--db", db)]
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env, timeout=600)
    report = json.loads(result.stdout)
    assert report["returncode"] == 0, report["stderr_tail"]
    assert report["orphans"] == []
    assert report["recorded_evaluation_cpu_s"] >= 2 * 1.0  # the seed and at least one child ran
    assert report["children_cpu_s"] >= report["recorded_evaluation_cpu_s"], report


def test_the_pool_reaps_the_jail_of_a_worker_it_kills(toy_task_dir):
    """A worker killed with SIGKILL cannot reap its jail (bwrap and the zygote die with it as
    orphans); the pool that started it does, so none is left as a zombie anywhere."""
    import asyncio
    import signal

    from evaluators.task import load_task
    from evolve.executors import local_executor
    from sandbox import reaper

    async def main():
        task = load_task(None, str(toy_task_dir))
        sandbox = local_executor("process", workers=1, jail="bwrap")
        try:
            result = await sandbox.evaluate(task, (toy_task_dir / "seed.py").read_text())
            assert result.status == "ok", result
            worker = sandbox.pool._all[0]
            jail: dict[int, int] = {}
            reaper.note_descendants(worker.proc.pid, jail)
            for pidfd in jail.values():
                os.close(pidfd)
            assert len(jail) >= 2, jail  # bwrap and the zygote it runs
            os.kill(worker.proc.pid, signal.SIGKILL)  # as the OOM killer would
            await worker.kill()
            return list(jail)
        finally:
            await sandbox.close()

    for pid in asyncio.run(main()):
        assert not os.path.exists(f"/proc/{pid}"), open(f"/proc/{pid}/stat").read()


@pytest.mark.slow
def test_an_unreachable_database_url_is_one_line_without_its_password(tmp_path, cli_env):
    result = run(["status", "--db", "postgresql://evolve:s3cret-pw@127.0.0.1:1/archive"], cli_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "postgresql://evolve:***@127.0.0.1:1/archive" in lines[0], result.stderr[-3000:]
    assert "s3cret-pw" not in result.stderr and list(tmp_path.iterdir()) == []
