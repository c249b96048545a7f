"""Archive on a real SQLite file: schema, cell competition, islands, sampling, lineage."""
import random
import sqlite3

import pytest

from archive import Archive, ArchiveError, Grid, SamplingWeights
from archive.sampling import Elite, choose_inspirations, choose_parent
from evaluators.contract import EvaluationResult, Status

GRID = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 4}, {"name": "b", "range": [0, 10], "bins": 5}])


def _add(archive, cid, iteration, code, parent=None, island=0):
    return archive.add_program(cid, iteration=iteration, code=code, code_hash=str(hash(code)), parent_id=parent,
                               inspiration_ids=[], mutator="test", operator="op", edit={}, generation=iteration,
                               island=island, state="pending")


def _ok(score, a, b):
    return EvaluationResult(Status.OK, score=score, descriptors={"a": a, "b": b})


def test_schema_pragmas_and_versioning(tmp_path):
    db = tmp_path / "a.db"
    Archive(str(db)).close()
    with sqlite3.connect(db) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert con.execute("select version_num from alembic_version").fetchone()[0]
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"campaigns", "programs", "evaluations", "cells", "events"} <= tables
    Archive(str(db)).close()  # reopening an up-to-date database is a no-op


def test_cell_competition_islands_and_migration(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = archive.create_campaign(name="c", task_name="t", task_dir=None, config={}, seed=0, iterations=3).id
    p1 = _add(archive, cid, 0, "a")
    assert archive.record_training(p1, "train", _ok(1.0, 0.1, 1), grid=GRID, islands=[0, 1]).new_best
    p2 = _add(archive, cid, 1, "b", parent=p1)
    out = archive.record_training(p2, "train", _ok(0.5, 0.1, 1), grid=GRID, islands=[0])
    assert not out.new_elite  # same cell, worse score: the incumbent stays
    p3 = _add(archive, cid, 2, "c", parent=p2, island=1)
    out = archive.record_training(p3, "train", _ok(2.0, 0.9, 9), grid=GRID, islands=[1])
    assert out.new_elite and out.new_best and out.key == "3,4"
    assert {e.program_id for e in archive.elites(cid, 1)} == {p1, p3}
    assert {e.program_id for e in archive.elites(cid, 0)} == {p1}
    archive.migrate(cid, 2, GRID, 0)
    assert {e.program_id for e in archive.elites(cid, 0)} == {p1, p3}
    p4 = _add(archive, cid, 3, "d", parent=p3)
    archive.record_training(p4, "train", EvaluationResult.failure(Status.TIMEOUT, "slow"), grid=GRID, islands=[0])
    assert archive.best(cid)[0].id == p3
    assert [r["program_id"] for r in archive.lineage_rows(p4)] == [p4, p3, p2, p1]
    stats = archive.stats(cid)
    assert stats["evaluations"] == {"ok": 3, "timeout": 1} and stats["failures"] == 1
    with pytest.raises(ArchiveError):
        archive.record_training(p4, "train", _ok(1, 0, 0), grid=GRID, islands=[0])
    with pytest.raises(ArchiveError):
        _add(archive, cid, 3, "duplicate iteration")
    with pytest.raises(ArchiveError, match="no campaign"):
        archive.campaign("nope")


def test_sampling_mixes_modes_and_is_seeded():
    elites = [Elite(i, GRID.key({"a": (i % 4) / 4, "b": 2 * (i % 5)}), float(i)) for i in range(1, 8)]
    weights = SamplingWeights(exploit=1, explore=1, frontier=1, top_inspirations=2, diverse_inspirations=1)
    modes = {choose_parent(elites, GRID, random.Random(s), weights)[1] for s in range(100)}
    assert modes == {"exploit", "explore", "frontier"}
    assert choose_parent(elites, GRID, random.Random(0), SamplingWeights(1, 0, 0))[0].program_id == 7
    parent = elites[0]
    picks = choose_inspirations(elites, parent, GRID, random.Random(3), weights)
    assert [p.program_id for p in picks[:2]] == [7, 6] and len(picks) == 3 and parent not in picks
    assert picks == choose_inspirations(elites, parent, GRID, random.Random(3), weights)


def test_an_old_database_is_migrated_to_the_current_schema(tmp_path):
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from archive.db import MIGRATIONS, make_engine

    db = str(tmp_path / "old.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(db)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    with sqlite3.connect(db) as con:
        assert con.execute("select version_num from alembic_version").fetchone()[0] == "0001"
    archive = Archive(db)  # opening upgrades
    archive.create_campaign(name="c", task_name="t", task_dir=None, config={}, seed=0, iterations=1)
    archive.close()
    with sqlite3.connect(db) as con:
        head = ScriptDirectory.from_config(config).get_current_head()
        assert con.execute("select version_num from alembic_version").fetchone()[0] == head != "0001"


def test_processes_opening_a_fresh_database_at_once_all_succeed(tmp_path):
    import subprocess
    import sys

    from core_support import ROOT

    db = str(tmp_path / "race.db")
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from archive import Archive; Archive({db!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)]
    failures = [p.stderr.read().decode()[-300:] for p in procs if p.wait() != 0]
    assert not failures, failures[0]
