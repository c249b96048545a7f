"""An archive written by the previous release (0.1.0) opens, upgrades and reads the same.

tests/fixtures/archives/release-0.1.0-binpack.db was made by commit 80e1045 with
`evolve run binpack_online --iterations 12 --workers 1 --name prev-release --json` (its output is
the .json beside it). That release had no evaluation roles: the training evaluation was simply a
program's first one.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from archive import Archive, EvaluationRole
from tui_support import evolve

FIXTURE = Path(__file__).parent.parent / "fixtures" / "archives" / "release-0.1.0-binpack.db"
REPORTED = json.loads(FIXTURE.with_suffix(".json").read_text())


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from archive.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _copy(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return path


def test_old_archive_has_no_roles_then_upgrades_to_head(tmp_path):
    path = _copy(tmp_path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
        assert "role" not in [row[1] for row in db.execute("PRAGMA table_info(evaluations)")]
    archive = Archive(str(path))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (_head(),)
    archive.close()


def test_roles_follow_the_old_first_evaluation_rule(tmp_path):
    archive = Archive(str(_copy(tmp_path)))
    for program_id in range(1, REPORTED["evaluated"] + 1):
        evaluations = archive.evaluations_of(program_id)
        assert evaluations[0].role == EvaluationRole.TRAIN and evaluations[0].split == "train"
        assert all(e.role == EvaluationRole.REPORT for e in evaluations[1:])
    heldout = archive.evaluation(REPORTED["heldout"]["best"]["program_id"], "heldout")
    assert heldout.role == EvaluationRole.REPORT and heldout.score == REPORTED["heldout"]["best"]["score"]


def test_upgraded_archive_reads_as_the_old_release_reported(tmp_path):
    archive = Archive(str(_copy(tmp_path)))
    stats = archive.stats(1)
    for key in ("iterations_done", "programs", "evaluations", "evaluated", "failures", "best_score", "cells_filled"):
        assert stats[key] == REPORTED[key], key
    program, train = archive.best(1)
    assert program.id == REPORTED["heldout"]["best"]["program_id"] and train.role == EvaluationRole.TRAIN
    assert train.score == REPORTED["best_score"]


@pytest.mark.slow
def test_cli_reads_and_reports_on_the_upgraded_archive(tmp_path):
    path = _copy(tmp_path)
    status = evolve("status", "prev-release", "--db", path, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["best_score"] == REPORTED["best_score"]
    best = evolve("best", "prev-release", "--db", path, "--json")
    assert best.returncode == 0, best.stderr
    shown = json.loads(best.stdout)
    assert [h["split"] for h in shown["heldout"]] == ["heldout"]
    assert shown["heldout"][0]["score"] == REPORTED["heldout"]["best"]["score"]
