"""The CLI as a user meets it: real subprocesses, real SQLite files."""
import json
import subprocess

import pytest

from core_support import evolve_cmd
from evolve.config import build_config
from evolve.errors import UserError


def run(args, env, cwd=None, timeout=300):
    return subprocess.run(evolve_cmd(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.mark.parametrize("args, fragment", [
    (["run", "binpack_online", "--iterations", "0"], "iterations: 0 is not allowed"),
    (["run", "binpack_online", "--workers", "-1"], "workers: -1 is not allowed"),
    (["run", "binpack_online", "--sandbox", "vm"], "sandbox: 'vm' is not allowed"),
    (["run", "binpack_online", "--llm", "gpt9"], "'gpt9' is not a model spec"),
    (["run", "no_such_task"], "unknown task 'no_such_task'"),
    (["run"], "give exactly one of task"),
    (["run", "binpack_online", "--iterations", "ten"], "invalid int value: 'ten'"),
    (["run", "--task-dir", "/nonexistent"], "task directory /nonexistent does not exist"),
    (["run", "binpack_online", "--config", "missing.yaml"], "config file missing.yaml does not exist"),
    (["status", "3"], "no archive database"),
    (["eval", "binpack_online"], "give exactly one of FILE or --baseline"),
    (["eval", "binpack_online", "--baseline", "worst_fit"], "no baseline 'worst_fit'"),
    (["eval", "binpack_online", "--baseline", "best_fit", "--split", "test"], "no split 'test'"),
    (["eval", "binpack_online", "--baseline", "best_fit", "--wall-s", "0"], "--wall-s 0 is not allowed"),
    (["eval", "binpack_online", "--baseline", "best_fit", "--cpu-s", "-5"], "--cpu-s -5 is not allowed"),
    (["eval", "binpack_online", "--baseline", "best_fit", "--cpu-s", "inf"], "--cpu-s inf is not allowed"),
    (["eval", "binpack_online", "--baseline", "best_fit", "--memory-mb", "32"], "--memory-mb 32 is not allowed"),
    (["eval", "binpack_online", "--baseline", "best_fit", "--memory-mb", "1.5"], "invalid int value: '1.5'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, cli_env, args, fragment):
    result = run([*args, "--db", "x.db"] if args[0] in ("run", "status") else args, cli_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bad_config_file_values(tmp_path, cli_env):
    (tmp_path / "c.yaml").write_text("task: binpack_online\nislands:\n  count: 0\n")
    result = run(["run", "--config", "c.yaml", "--db", "x.db"], cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "evolve: error: c.yaml error: islands.count: 0 is not allowed: " \
                                    "Input should be greater than or equal to 1"
    (tmp_path / "d.yaml").write_text("task: [unclosed\n")
    result = run(["run", "--config", "d.yaml", "--db", "x.db"], cli_env, cwd=tmp_path)
    assert result.returncode == 2 and "not valid YAML at line" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_flags_override_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: binpack_online\niterations: 50\nseed: 3\nislands: {count: 4, migration_interval: 10}\n")
    config = build_config(path, {"iterations": 7, "seed": None})
    assert (config.iterations, config.seed, config.islands.count) == (7, 3, 4)
    assert build_config(path, {"task_dir": "/some/dir"}).task is None
    with pytest.raises(UserError, match="descriptors.0.range"):
        build_config(path, {"descriptors": [{"name": "x", "range": [1, 0]}]})


@pytest.mark.slow
def test_eval_reproduces_the_published_best_fit_figures(cli_env):
    result = run(["eval", "binpack_online", "--baseline", "best_fit", "--split", "heldout", "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "ok"
    assert round(data["metrics"]["or3_excess_pct"], 2) == 5.37
    assert round(data["metrics"]["weibull_5k_excess_pct"], 2) == 3.98
    assert data["metrics"]["or3_mean_bins"] == 212.0 and data["metrics"]["weibull_5k_mean_bins"] == 2067.0
    assert data["score"] == pytest.approx(-data["metrics"]["excess_pct"])


@pytest.mark.slow
def test_eval_a_user_file_and_first_fit_is_worse(tmp_path, cli_env):
    program = tmp_path / "mine.py"
    program.write_text("import numpy as np\n\ndef priority(item, bins):\n    return -(bins - item) ** 2\n")
    mine = json.loads(run(["eval", "binpack_online", str(program), "--json"], cli_env).stdout)
    first = json.loads(run(["eval", "binpack_online", "--baseline", "first_fit", "--json"], cli_env).stdout)
    best = json.loads(run(["eval", "binpack_online", "--baseline", "best_fit", "--json"], cli_env).stdout)
    assert mine["status"] == "ok" and mine["score"] == pytest.approx(best["score"])  # same ordering as best fit
    assert first["score"] < best["score"]
    broken = tmp_path / "broken.py"
    broken.write_text("def priority(item, bins):\n    return [1, 2]\n")
    result = run(["eval", "binpack_online", str(broken), "--json"], cli_env)
    assert result.returncode == 1 and json.loads(result.stdout)["status"] == "crashed"


@pytest.mark.slow
def test_campaign_on_a_user_task_dir_and_inspection_commands(tmp_path, cli_env, toy_task_dir):
    db = str(tmp_path / "c.db")
    result = run(["run", "--task-dir", toy_task_dir, "--iterations", "25", "--db", db, "--json", "--name", "toy"],
                 cli_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["state"] == "finished" and summary["iterations_done"] == 25
    assert summary["heldout"]["baseline"]["name"] == "zero"
    assert summary["heldout"]["best"]["score"] > summary["heldout"]["baseline"]["score"]
    status = json.loads(run(["status", "toy", "--db", db, "--json"], cli_env).stdout)
    assert status["iterations_done"] == 25 and status["state"] == "finished"
    listing = json.loads(run(["status", "--db", db, "--json"], cli_env).stdout)
    assert [c["name"] for c in listing] == ["toy"]
    best = json.loads(run(["best", "toy", "--db", db, "--json"], cli_env).stdout)
    assert best["score"] == summary["best_score"] and "def f" in best["code"]
    grid = json.loads(run(["archive", "toy", "--db", db, "--json"], cli_env).stdout)
    assert grid["cells"] and all(len(c["coords"]) == 2 for c in grid["cells"])
    text = run(["archive", "toy", "--db", db], cli_env)
    assert text.returncode == 0 and "cells filled" in text.stdout
    again = run(["run", "--task-dir", toy_task_dir, "--iterations", "5", "--db", db, "--name", "toy"], cli_env)
    assert again.returncode == 2 and "already exists" in again.stderr
    tasks = json.loads(run(["tasks", "--json"], cli_env).stdout)
    binpack = next(t for t in tasks if t["name"] == "binpack_online")
    assert set(binpack["baselines"]) == {"best_fit", "first_fit"} and set(binpack["splits"]) == {"train", "validation", "heldout", "or3", "weibull_5k", "stage", "probe"}
