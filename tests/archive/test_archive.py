"""The archive on both backends (a real SQLite file, a real PostgreSQL database): schema, cell
competition, islands, sampling, lineage, live views, concurrent openers."""
import random
import sqlite3

import pytest
from sqlalchemy import create_engine, inspect, text

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


def _version(db_url):
    from archive.db import database_url

    engine = create_engine(database_url(db_url))
    try:
        with engine.connect() as con:
            return con.execute(text("select version_num from alembic_version")).scalar()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_schema_and_versioning(db_url):
    from archive.db import database_url

    Archive(db_url).close()
    assert _version(db_url)
    engine = create_engine(database_url(db_url))
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"campaigns", "programs", "evaluations", "cells", "events", "llm_calls"} <= tables
    Archive(db_url).close()  # reopening an up-to-date database is a no-op


def test_sqlite_pragmas(tmp_path):
    db = tmp_path / "a.db"
    Archive(str(db)).close()
    with sqlite3.connect(db) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_cell_competition_islands_and_migration(db_url):
    archive = Archive(db_url)
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


def test_an_old_database_is_migrated_to_the_current_schema(db_url):
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from archive.db import MIGRATIONS, make_engine

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(db_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    assert _version(db_url) == "0001"
    archive = Archive(db_url)  # opening upgrades
    archive.create_campaign(name="c", task_name="t", task_dir=None, config={}, seed=0, iterations=1)
    archive.close()
    head = ScriptDirectory.from_config(config).get_current_head()
    assert _version(db_url) == head != "0001"


@pytest.mark.slow
def test_processes_opening_a_fresh_database_at_once_all_succeed(db_url):
    import subprocess
    import sys

    from core_support import ROOT

    db = db_url
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from archive import Archive; Archive({db!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)]
    failures = [p.stderr.read().decode()[-300:] for p in procs if p.wait() != 0]
    assert not failures, failures[0]


def test_live_views_and_llm_log(db_url):
    """What the TUI, `status` and budgets read: JSON-path counts, grouped summaries, spend sums."""
    archive = Archive(db_url)
    cid = archive.create_campaign(name=None, task_name="t", task_dir=None, config={}, seed=0, iterations=3).id
    assert archive.campaign(cid).name == f"t-{cid}"
    p1 = _add(archive, cid, 0, "a")
    archive.record_training(p1, "train", _ok(1.0, 0.1, 1), grid=GRID, islands=[0])
    archive.log_llm_call(cid, iteration=1, provider="openai", model="m", operator="diff", outcome="ok",
                         tokens_in=100, tokens_out=20, cost_usd=0.25)
    archive.log_llm_call(cid, iteration=1, provider="openai", model="m", operator="diff", outcome="timeout",
                         tokens_in=0, tokens_out=0, cost_usd=0.0)
    p2 = _add(archive, cid, 1, "b", parent=p1)
    archive.record_training(p2, "train", EvaluationResult.failure(Status.CRASHED, "boom"), grid=GRID, islands=[0])
    p3 = _add(archive, cid, 2, "c", parent=p1)
    archive.record_training(p3, "train", _ok(3.0, 0.9, 9), grid=GRID, islands=[0])
    counts = archive.progress_counts(cid)
    assert counts["evaluations"] == {"crashed": 1, "ok": 2} and counts["iterations_done"] == 2
    assert counts["best_score"] == 3.0 and counts["cells_filled"] == 2
    assert archive.campaign_summaries()[cid] == {"iterations_done": 2, "evaluated": 3, "best_score": 3.0}
    assert [(i, s) for i, s, _ in archive.best_history(cid)] == [(0, 1.0), (2, 3.0)]
    assert len(archive.recent_evaluation_times(cid)) == 3
    token = archive.change_token(cid)
    archive.log_event(cid, "note", detail="x")
    assert archive.change_token(cid) != token
    assert archive.recent_events(cid, limit=1)[0].kind == "note"
    assert [c.program_id for c in archive.llm_calls(cid)] == [p2, p2]  # attached when iteration 1's program landed
    spend = archive.spend(cid)
    assert spend == {"usd": 0.25, "tokens_in": 100, "tokens_out": 20, "tokens": 120, "calls": 2,
                     "outcomes": {"ok": 1, "timeout": 1}}
    assert archive.stats(cid)["spend"] == spend
    archive.close()


def test_hostile_text_never_fails_a_write(db_url):
    """NUL bytes and overlong names (PostgreSQL refuses both in text columns; SQLite takes them)."""
    archive = Archive(db_url)
    cid = archive.create_campaign(name="c", task_name="t", task_dir=None, config={}, seed=0, iterations=1).id
    program = archive.add_program(cid, iteration=0, code="x = 1\x00", code_hash="h", parent_id=None,
                                  inspiration_ids=[], mutator="m" * 500, operator="op", edit={"note": "a\x00b"},
                                  generation=0, island=0, state="pending")
    result = EvaluationResult.failure(Status.CRASHED, "bad\x00output")
    result.artifacts["stderr"] = "\x00\udcff tail"
    archive.record_training(program, "train", result, grid=GRID, islands=[0])
    archive.set_state(cid, "failed", "died with \x00 in its message")
    stored = archive.program(program)
    assert stored.code.startswith("x = 1") and stored.code[-1] in "\x00\ufffd"
    assert stored.mutator.startswith("mmm") and stored.edit["note"] in ("a\x00b", "a\ufffdb")
    assert archive.evaluation(program, "train").status == "crashed"
    assert archive.progress_counts(cid)["evaluations"] == {"crashed": 1}
    with pytest.raises(ArchiveError, match="at most 200"):
        archive.create_campaign(name="n" * 201, task_name="t", task_dir=None, config={}, seed=0, iterations=1)
    archive.close()


@pytest.mark.slow
def test_concurrent_writers_keep_cells_and_names_consistent(db_url):
    """Threads racing for one cell leave its best; racing for one campaign name, exactly one wins."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    archive = Archive(db_url)
    cid = archive.create_campaign(name="c", task_name="t", task_dir=None, config={}, seed=0, iterations=40).id
    programs = [_add(archive, cid, i, f"p{i}") for i in range(32)]
    scores = random.Random(5).sample(range(100), len(programs))
    start = threading.Barrier(8)

    def place(index):
        if index < 8:
            start.wait()
        return archive.record_training(programs[index], "train", _ok(float(scores[index]), 0.5, 5), grid=GRID,
                                         islands=[0, 1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(place, range(len(programs))))
    best_program = programs[scores.index(max(scores))]
    for island in (0, 1):
        assert [(e.program_id, e.score) for e in archive.elites(cid, island)] == [(best_program, max(scores))]

    def create(_):
        try:
            return archive.create_campaign(name="same", task_name="t", task_dir=None, config={}, seed=0,
                                           iterations=1).id
        except ArchiveError as exc:
            assert "already exists" in str(exc)
            return None

    with ThreadPoolExecutor(6) as pool:
        created = [c for c in pool.map(create, range(6)) if c is not None]
    assert len(created) == 1
    archive.close()
