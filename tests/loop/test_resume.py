"""kill -9 at random instants, then `evolve resume`: nothing completed is lost, nothing is
evaluated twice, no process survives its controller, and the budget is honoured exactly.
With one worker the resumed campaign equals an uninterrupted one program for program."""
import os
import random
import signal
import subprocess
import time

import pytest

from core_support import evolve_cmd, query

ITERATIONS = 500
KILLS = 6


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _snapshot(db: str) -> dict:
    """Campaigns, evaluations and programs as stored (empty before the archive or its schema exists)."""
    return {"campaigns": len(query(db, "select id from campaigns")),
            "evaluations": [tuple(r.values()) for r in query(db, "select program_id, split, status, score from evaluations")],
            "programs": [tuple(r.values()) for r in query(db, "select iteration, code_hash, state from programs "
                                                             "order by iteration")]}


def _run(db: str, env: dict, task_dir, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(evolve_cmd("run", "--task-dir", task_dir, "--iterations", ITERATIONS, "--workers", 1,
                                       "--seed", 7, "--db", db, "--json", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_kill9_resume_invariants_and_reproducibility(tmp_path, toy_task_dir, cli_env, db_url):
    reference_db = str(tmp_path / "reference.db")
    proc = _run(reference_db, cli_env, toy_task_dir)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    reference = _snapshot(reference_db)

    db = db_url  # a SQLite file, then a PostgreSQL database
    rng = random.Random(1234)
    kills = 0
    command = None
    while True:
        proc = _run(db, cli_env, toy_task_dir) if command is None else subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
        command = evolve_cmd("resume", "1", "--db", db, "--json")
        if kills == KILLS:
            assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
            break
        time.sleep(rng.uniform(0.3, 1.8))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        before_kill = _snapshot(db)
        family = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in family if _alive(p)], "processes outlived the killed controller"
        after_kill = _snapshot(db)
        assert set(before_kill["evaluations"]) <= set(after_kill["evaluations"]), "a completed evaluation was lost"
        if not after_kill["campaigns"]:  # killed before the campaign existed: start it again
            command = None
    assert kills == KILLS, f"only {kills} kills landed; the campaign finished too fast to test resume"

    final = _snapshot(db)
    iterations = [row[0] for row in final["programs"]]
    assert iterations == list(range(ITERATIONS + 1)), "budget not honoured exactly"
    evaluated = [(p, s) for p, s, _, _ in final["evaluations"]]
    assert len(evaluated) == len(set(evaluated)), "a program was evaluated twice"
    # Sequential and seeded: the interrupted campaign made exactly the same programs.
    assert [(i, h, s) for i, h, s in final["programs"]] == [(i, h, s) for i, h, s in reference["programs"]]
