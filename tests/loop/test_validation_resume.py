"""kill -9 at random instants, then `evolve resume`, on a task with a validation split: the validation
evaluations are exactly those an uninterrupted campaign makes (every entrant of the training top-k,
once), none repeated, none missed, and the selected best is the same."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from core_support import evolve_cmd, query
from evolve.loop.selection import TrainingTopK

OVERFIT = Path(__file__).resolve().parents[1] / "fixtures" / "overfit_task"
ITERATIONS = 150
KILLS = 5
TOP_K = 3


def _run(db: str, env: dict, config: Path) -> subprocess.Popen:
    return subprocess.Popen(evolve_cmd("run", "--task-dir", OVERFIT, "--config", config, "--iterations", ITERATIONS,
                                       "--workers", 1, "--seed", 5, "--db", db, "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _validated(db: str) -> list[int]:
    """Iterations of the programs with a validation evaluation, one entry per evaluation."""
    return sorted(r["iteration"] for r in query(db, "select p.iteration from evaluations e join programs p on "
                                                    "p.id = e.program_id where e.role = 'validation'"))


def _entrants(db: str) -> list[int]:
    """Iterations of the programs that entered the top-k, from the stored verdicts and validation outcomes."""
    top = TrainingTopK(TOP_K)
    failed = {r["program_id"] for r in query(db, "select program_id from evaluations where role = 'validation' "
                                                 "and status != 'ok'")}
    rows = query(db, "select e.program_id, p.iteration, e.score from evaluations e join programs p on "
                     "p.id = e.program_id where e.role = 'train' and e.status = 'ok' order by p.iteration")
    iteration = {r["program_id"]: r["iteration"] for r in rows}
    entered = set()
    for r in rows:
        top.add(r["score"], r["iteration"], r["program_id"])
        while failed & set(top.members()):
            entered.update(top.members())
            top.disqualify(next(m for m in top.members() if m in failed))
        entered.update(top.members())
    return sorted(iteration[p] for p in entered)


def _best(db: str, env: dict) -> dict:
    shown = json.loads(subprocess.run(evolve_cmd("best", "--db", db, "--json"), env=env, capture_output=True,
                                      text=True, check=True).stdout)
    return {"iteration": shown["iteration"], "selected_by": shown["selected_by"],
            "validation": shown["figures"]["validation"]["score"]}


def test_kill9_resume_neither_repeats_nor_misses_validation(tmp_path, cli_env):
    config = tmp_path / "campaign.yaml"
    config.write_text(json.dumps({"selection": {"top_k": TOP_K}}))
    reference_db = str(tmp_path / "reference.db")
    proc = _run(reference_db, cli_env, config)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
    reference = _validated(reference_db)
    assert reference == _entrants(reference_db) and len(reference) > TOP_K

    db = str(tmp_path / "killed.db")
    rng = random.Random(19)
    kills, mid_validation = 0, 0
    command = None
    while True:
        proc = _run(db, cli_env, config) if command is None else subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
        command = evolve_cmd("resume", "1", "--db", db, "--json")
        if kills == KILLS:
            assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()
            break
        if kills % 2:  # at a random instant
            time.sleep(rng.uniform(0.5, 3.0))
        else:  # while an entrant's validation runs (it lasts 0.3 s in this fixture)
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and \
                    not set(_entrants(db)) - set(_validated(db)):
                time.sleep(0.02)
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        if not query(db, "select id from campaigns"):  # killed before the campaign existed: start it again
            command = None
            continue
        mid_validation += len(set(_entrants(db)) - set(_validated(db)))  # entrants the kill left unvalidated
    assert kills == KILLS, f"only {kills} kills landed; the campaign finished too fast to test resume"
    assert mid_validation >= 1, "no kill landed between a verdict and its validation"

    final = _validated(db)
    assert len(final) == len(set(final)), "a program was validated twice"
    assert final == _entrants(db), "an entrant of the top-k was not validated, or a non-entrant was"
    assert final == reference  # sequential and seeded: the same programs entered the top-k
    assert _best(db, cli_env) == _best(reference_db, cli_env)
