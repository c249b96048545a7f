"""Quality-diversity metrics: exact values on a hand-built archive (a real SQLite file), per island
vs overall, the offset rules, the snapshot history across a kill -9 and `evolve resume`, and the
figures `evolve status`, `evolve run` and its held-out report print, from real toy campaigns."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from archive import Archive, Grid
from archive.qd import QD_EVENT, archive_qd, qd_stats, resolve_offset
from evaluators.contract import EvaluationResult, Status
from evolve.loop.qd_snapshots import QDSnapshots

from core_support import evolve_cmd

# 2 x 2 = 4 cells per island
GRID = Grid.from_specs([{"name": "a", "range": [0, 2], "bins": 2}, {"name": "b", "range": [0, 2], "bins": 2}])
STATS_KEYS = {"cells", "filled", "coverage", "qd_score", "norm_qd_score"}


def test_qd_stats_follow_pyribs_with_the_offset_and_a_clamp_at_zero():
    stats = qd_stats([-1.0, -3.0, -7.0], cells=8, offset=-5.0)
    assert stats.filled == 3 and stats.coverage == 3 / 8
    assert stats.qd_score == 4.0 + 2.0 + 0.0  # -7 is below the offset: it covers a cell, adds nothing
    assert stats.norm_qd_score == 6.0 / 8
    assert qd_stats([], cells=4, offset=0.0).as_dict() == {"cells": 4, "filled": 0, "coverage": 0.0,
                                                           "qd_score": 0.0, "norm_qd_score": 0.0}
    assert qd_stats([1.0], cells=4, offset=None).qd_score is None
    with pytest.raises(ValueError):
        qd_stats([1.0, 2.0], cells=1, offset=0.0)


def test_offset_is_declared_else_the_seed_score():
    assert resolve_offset(-2.5, -9.0) == (-2.5, "declared")
    assert resolve_offset(None, -9.0) == (-9.0, "seed")
    assert resolve_offset(None, None) == (None, None)


def test_overall_is_the_best_per_cell_over_islands():
    rows = [(0, "0,0", 3.0), (0, "0,1", 1.0), (1, "0,0", 5.0), (1, "1,1", 2.0)]
    qd = archive_qd(rows, grid_size=4, islands=3, offset=1.0)
    assert qd["overall"] == {"cells": 4, "filled": 3, "coverage": 0.75, "qd_score": 4.0 + 0.0 + 1.0,
                             "norm_qd_score": 5.0 / 4}
    assert [i["island"] for i in qd["islands"]] == [0, 1, 2]
    assert (qd["islands"][0]["qd_score"], qd["islands"][0]["filled"]) == (2.0, 2)
    assert (qd["islands"][1]["qd_score"], qd["islands"][1]["filled"]) == (5.0, 2)
    assert qd["islands"][2] == {"island": 2, "cells": 4, "filled": 0, "coverage": 0.0, "qd_score": 0.0,
                                "norm_qd_score": 0.0}


def _add(archive: Archive, campaign_id: int, iteration: int, island: int, score: float | None, a: float, b: float,
         islands: list[int]) -> int:
    program_id = archive.add_program(campaign_id, iteration=iteration, code=f"# {iteration}\n",
                                     code_hash=f"{iteration:064x}", parent_id=None, inspiration_ids=[],
                                     mutator="test", operator="test", edit={}, generation=0, island=island,
                                     state="pending")
    result = (EvaluationResult(Status.OK, score=score, descriptors={"a": a, "b": b}) if score is not None
              else EvaluationResult.failure(Status.CRASHED, "boom"))
    archive.record_training(program_id, "train", result, grid=GRID, islands=islands)
    return program_id


@pytest.fixture
def hand_built(tmp_path):
    """Seed -5 in cell 0,0 on both islands; island 0 gets 0,0 -> -2 and 1,1 -> -9; island 1 gets 0,1 -> -4."""
    archive = Archive(str(tmp_path / "qd.db"))
    campaign = archive.create_campaign(name="qd", task_name="t", task_dir=None, config={}, seed=0, iterations=10)
    _add(archive, campaign.id, 0, 0, -5.0, 0.5, 0.5, islands=[0, 1])
    _add(archive, campaign.id, 1, 0, -2.0, 0.1, 0.1, islands=[0])
    _add(archive, campaign.id, 2, 1, -4.0, 0.5, 1.5, islands=[1])
    _add(archive, campaign.id, 3, 0, -9.0, 1.5, 1.5, islands=[0])
    _add(archive, campaign.id, 4, 1, None, 0, 0, islands=[1])  # a failure changes nothing
    yield archive, campaign.id
    archive.close()


def test_exact_values_on_a_hand_built_archive(hand_built):
    archive, cid = hand_built
    assert archive.seed_score(cid) == -5.0
    qd = archive.quality_diversity(cid, GRID.size, islands=2)
    assert (qd["offset"], qd["offset_source"], qd["cells"]) == (-5.0, "seed", 4)
    assert qd["overall"] == {"cells": 4, "filled": 3, "coverage": 0.75, "qd_score": 3.0 + 1.0 + 0.0,
                             "norm_qd_score": 1.0}
    island0, island1 = qd["islands"]
    assert island0 == {"island": 0, "cells": 4, "filled": 2, "coverage": 0.5, "qd_score": 3.0, "norm_qd_score": 0.75}
    assert island1 == {"island": 1, "cells": 4, "filled": 2, "coverage": 0.5, "qd_score": 1.0, "norm_qd_score": 0.25}
    assert qd["history"] == []  # nothing wrote a snapshot

    declared = archive.quality_diversity(cid, GRID.size, islands=2, declared_offset=-10.0, history=False)
    assert (declared["offset"], declared["offset_source"]) == (-10.0, "declared")
    assert declared["overall"]["qd_score"] == 8.0 + 6.0 + 1.0
    assert "history" not in declared

    archive.migrate(cid, 2, GRID, 0)  # island 0's best (-2 in 0,0) beats island 1's seed there; -4 goes to island 0
    after = archive.quality_diversity(cid, GRID.size, islands=2)
    assert after["overall"] == qd["overall"]  # migration copies elites: the best per cell is unchanged
    assert [i["qd_score"] for i in after["islands"]] == [3.0 + 1.0, 3.0 + 1.0]
    assert [i["filled"] for i in after["islands"]] == [3, 2]


def test_snapshots_are_written_when_due_and_changed_and_picked_up_again(hand_built):
    archive, cid = hand_built
    snapshots = QDSnapshots(archive, cid, grid_size=GRID.size, islands=2, declared_offset=None, iterations=600)
    assert snapshots.interval == 3
    snapshots.start()
    assert snapshots.evaluations == 5
    snapshots.after_training()  # the first one is always due
    stored = archive.qd_snapshots(cid)
    assert len(stored) == 1 and stored[0]["evaluations"] == 6 and stored[0]["offset"] == -5.0
    assert stored[0]["overall"]["qd_score"] == 4.0 and stored[0]["islands"][1]["qd_score"] == 1.0
    snapshots.after_training()
    snapshots.after_training()
    assert len(archive.qd_snapshots(cid)) == 1  # not due yet
    snapshots.after_training()
    assert len(archive.qd_snapshots(cid)) == 1  # due, but nothing changed
    _add(archive, cid, 5, 1, -1.0, 1.5, 0.5, islands=[1])
    reopened = QDSnapshots(archive, cid, grid_size=GRID.size, islands=2, declared_offset=None, iterations=600)
    reopened.start()  # e.g. `evolve resume` after a kill -9
    assert reopened.evaluations == 6 and reopened.record()
    latest = archive.qd_snapshots(cid, latest_only=True)[0]
    assert latest["overall"]["filled"] == 4 and latest["overall"]["qd_score"] == 4.0 + 4.0
    assert [e.kind for e in archive.recent_events(cid, 50)].count(QD_EVENT) == 0  # figures, not happenings


def test_no_look_while_no_cell_changed_and_a_change_is_snapshotted_once_due(hand_built):
    from sqlalchemy import event

    archive, cid = hand_built
    snapshots = QDSnapshots(archive, cid, grid_size=GRID.size, islands=2, declared_offset=None, iterations=600)
    snapshots.start()
    snapshots.after_training(placed=False)  # the first look is due whatever happened
    assert len(archive.qd_snapshots(cid)) == 1
    statements = []
    event.listen(archive.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(2 * snapshots.interval):  # due several times over, but the cells are as they were
        snapshots.after_training(placed=False)
    assert statements == []
    _add(archive, cid, 5, 1, -1.0, 1.5, 0.5, islands=[1])  # a new elite on island 1
    statements.clear()
    snapshots.after_training(placed=True)  # due already: stored at once
    assert statements and len(archive.qd_snapshots(cid)) == 2
    assert archive.qd_snapshots(cid, latest_only=True)[0]["overall"]["filled"] == 4
    archive.migrate(cid, 2, GRID, 0)  # island 1's best (-1 in 1,0) fills a third cell on island 0
    snapshots.cells_changed()
    for _ in range(snapshots.interval):
        snapshots.after_training(placed=False)
    latest = archive.qd_snapshots(cid, latest_only=True)[0]
    assert len(archive.qd_snapshots(cid)) == 3 and latest["islands"][0]["filled"] == 3


def _assert_monotone(history: list[dict], now: dict) -> None:
    """Coverage and QD score never decrease, overall and on every island; overall bounds every island."""
    points = [h for h in history] + [{"evaluations": None, **now}]
    evaluations = [h["evaluations"] for h in history]
    assert evaluations == sorted(set(evaluations)), "snapshots out of order or repeated"
    for earlier, later in zip(points, points[1:]):
        for before, after in [(earlier["overall"], later["overall"])] + list(zip(earlier["islands"], later["islands"])):
            assert after["filled"] >= before["filled"] and after["coverage"] >= before["coverage"]
            assert after["qd_score"] >= before["qd_score"] - 1e-12
    for point in points:
        for island in point["islands"]:
            assert island["filled"] <= point["overall"]["filled"]
            assert island["qd_score"] <= point["overall"]["qd_score"] + 1e-12


CONFIG = """task_dir: {task}
iterations: {iterations}
workers: 1
islands: {{count: 2, migration_interval: 4}}
"""


@pytest.mark.slow
def test_toy_campaign_status_json_and_heldout_report(tmp_path, toy_task_dir, cli_env):
    (tmp_path / "c.yaml").write_text(CONFIG.format(task=toy_task_dir, iterations=30))
    db = str(tmp_path / "toy.db")
    run = subprocess.run(evolve_cmd("run", "--config", tmp_path / "c.yaml", "--db", db, "--name", "toy", "--json"),
                         env=cli_env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)["heldout"]["qd"]
    assert set(report) == {"offset", "offset_source", "cells", "overall", "islands"}

    status = subprocess.run(evolve_cmd("status", "toy", "--db", db, "--json"), env=cli_env, capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    qd = json.loads(status.stdout)["qd"]
    assert set(qd) == {"offset", "offset_source", "cells", "overall", "islands", "history"}
    assert set(qd["overall"]) == STATS_KEYS and all(set(i) == STATS_KEYS | {"island"} for i in qd["islands"])
    assert all(set(h) == {"evaluations", "at", "overall", "islands"} for h in qd["history"])
    assert qd["offset_source"] == "seed" and qd["cells"] == 64 and [i["island"] for i in qd["islands"]] == [0, 1]
    with sqlite3.connect(db) as con:
        seed_score = con.execute("select score from evaluations e join programs p on p.id = e.program_id "
                                 "where p.iteration = 0 and e.role = 'train'").fetchone()[0]
        cells = con.execute("select count(distinct key) from cells").fetchone()[0]
    assert qd["offset"] == seed_score and qd["overall"]["filled"] == cells
    assert report["overall"] == qd["overall"] and report["islands"] == qd["islands"]
    history = qd["history"]
    assert history[0]["evaluations"] == 1 and history[0]["overall"]["qd_score"] == 0.0  # the seed alone
    assert history[0]["overall"]["filled"] == 1 and [i["filled"] for i in history[0]["islands"]] == [1, 1]
    assert history[-1]["overall"] == qd["overall"] and history[-1]["islands"] == qd["islands"]  # written at the end
    _assert_monotone(history, qd)
    assert qd["overall"]["coverage"] > history[0]["overall"]["coverage"]  # the toy campaign finds new niches

    plain = subprocess.run(evolve_cmd("status", "toy", "--db", db), env={**cli_env, "COLUMNS": "80"},
                           capture_output=True, text=True, timeout=120)
    rows = {line.split("│")[1].strip(): line for line in plain.stdout.splitlines() if line.count("│") == 3}
    assert "QD score" in rows and "coverage" in rows
    assert f"{100 * qd['overall']['coverage']:.1f} % of 64 cells" in rows["coverage"]
    assert f"offset {seed_score:.3g} (seed)" in rows["QD score"]


@pytest.mark.slow
def test_history_survives_kill9_and_resume(tmp_path, toy_task_dir, cli_env):
    (tmp_path / "c.yaml").write_text(CONFIG.format(task=toy_task_dir, iterations=400))
    db = str(tmp_path / "toy.db")
    proc = subprocess.Popen(evolve_cmd("run", "--config", tmp_path / "c.yaml", "--db", db, "--json"),
                            env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def snapshots() -> int:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                return con.execute("select count(*) from events where kind = 'qd'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 240
    while snapshots() < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the campaign ended before it could be killed; raise its iterations"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = Archive(db).qd_snapshots(1)
    resumed = subprocess.run(evolve_cmd("resume", "1", "--db", db, "--json"), env=cli_env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    status = subprocess.run(evolve_cmd("status", "1", "--db", db, "--json"), env=cli_env, capture_output=True,
                            text=True, timeout=120)
    qd = json.loads(status.stdout)["qd"]
    kept = [(h["evaluations"], h["overall"]) for h in qd["history"][:len(before)]]
    assert kept == [(h["evaluations"], h["overall"]) for h in before]  # nothing stored was lost or rewritten
    assert len(qd["history"]) > len(before) and qd["history"][-1]["overall"] == qd["overall"]
    assert len({h["offset"] for h in Archive(db).qd_snapshots(1)}) == 1  # one offset for the whole campaign
    _assert_monotone(qd["history"], qd)
