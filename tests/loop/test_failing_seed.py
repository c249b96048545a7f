"""A task whose seed program fails ends the campaign with one line and a failed state, however the
seed's evaluation and the loop's archive work interleave: the evaluation may end while the loop
awaits the archive (preparing the next iterations), and its error must still be the one reported."""
import shutil
import subprocess

import pytest

from core_support import evolve_cmd, query


@pytest.mark.parametrize("workers", [1, 4])
def test_a_failing_seed_is_one_line_and_a_failed_campaign(tmp_path, cli_env, toy_task_dir, workers):
    task = tmp_path / "task"
    shutil.copytree(toy_task_dir, task)
    (task / "seed.py").write_text("# EVOLVE-BLOCK-START\ndef f(x):\n    raise ValueError('broken seed')\n"
                                  "# EVOLVE-BLOCK-END\n")
    for round_ in range(3):  # the interleaving varies from run to run
        db = str(tmp_path / f"failing-{round_}.db")
        out = subprocess.run(evolve_cmd("run", "--task-dir", task, "--iterations", 30, "--workers", workers,
                                        "--db", db), env=cli_env, capture_output=True, text=True, timeout=300)
        assert out.returncode != 0
        assert "the seed program failed" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and "never retrieved" not in out.stderr, out.stderr
        assert "stalled" not in out.stderr, out.stderr
        state = query(db, "select state, message from campaigns")[0]
        assert state["state"] == "failed" and "seed program failed" in (state["message"] or ""), state
