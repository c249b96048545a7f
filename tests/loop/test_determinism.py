"""Same seed, same campaign: at any worker count, and across kill -9 + `evolve resume` (real subprocesses,
a real archive). The cascade fixture task exercises functional hashing and a cascade stage too."""
import os
import random
import signal
import subprocess
import time

import pytest

from campaign_digest import campaign_record, first_difference
from core_support import ROOT, evolve_cmd, query

CASCADE_TASK = ROOT / "tests" / "fixtures" / "cascade_task"
ITERATIONS = 60


def _run(db, env, task_dir, workers, *extra) -> subprocess.Popen:
    return subprocess.Popen(evolve_cmd("run", "--task-dir", task_dir, "--iterations", ITERATIONS, "--workers", workers,
                                       "--seed", 11, "--db", db, "--json", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["toy_task", "cascade_task"])
def test_the_same_seed_gives_the_same_campaign_with_1_2_and_4_workers(tmp_path, cli_env, task):
    task_dir = ROOT / "tests" / "fixtures" / task
    digests = {}
    for workers in (1, 2, 4):
        db = str(tmp_path / f"w{workers}.db")
        proc = _run(db, cli_env, task_dir, workers)
        assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
        digests[workers] = campaign_record(db)
    assert len(digests[1]["programs"]) == ITERATIONS + 1
    assert any(row[5] == "ok" for row in digests[1]["programs"][1:]), "no child was evaluated"
    assert first_difference(digests[1], digests[2]) is None, first_difference(digests[1], digests[2])
    assert first_difference(digests[1], digests[4]) is None, first_difference(digests[1], digests[4])


@pytest.mark.slow
def test_a_campaign_killed_three_times_and_resumed_equals_the_uninterrupted_one(tmp_path, cli_env, db_url):
    reference_db = str(tmp_path / "reference.db")
    proc = _run(reference_db, cli_env, CASCADE_TASK, 2)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    reference = campaign_record(reference_db)

    db, rng, kills = db_url, random.Random(5), 0
    proc = _run(db, cli_env, CASCADE_TASK, 2)
    while kills < 3:
        # kill once some children exist and before the end: each time a little further in
        target = (kills + 1) * ITERATIONS // 4 + rng.randrange(5)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            done = query(db, "select count(*) as n from programs")
            if done and done[0]["n"] >= target:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the campaign ended before kill {kills + 1}: " + proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        proc = subprocess.Popen(evolve_cmd("resume", "1", "--db", db, "--json", "--workers", 1 + kills % 2 * 3),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    resumed = campaign_record(db)
    assert first_difference(reference, resumed) is None, first_difference(reference, resumed)
