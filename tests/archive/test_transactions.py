"""Archive.transaction(): several archive calls as one transaction (the loop's step), on both backends."""
from __future__ import annotations

import threading

import pytest

from archive import Archive


def _program(archive: Archive, campaign_id: int, iteration: int) -> int:
    return archive.add_program(campaign_id, iteration=iteration, code=f"x = {iteration}", code_hash=str(iteration),
                               parent_id=None, inspiration_ids=[], mutator="test", operator="op", edit={},
                               generation=0, island=0, state="pending")


def _campaign(archive: Archive) -> int:
    return archive.create_campaign(name="t", task_name="t", task_dir=None, config={}, seed=0, iterations=9).id


def test_calls_in_a_block_are_stored_together_and_seen_inside_it(db_url):
    archive = Archive(db_url)
    try:
        cid = _campaign(archive)
        other = Archive(db_url)  # another connection (another process, a TUI) sees nothing until the block ends
        try:
            with archive.transaction():
                _program(archive, cid, 0)
                _program(archive, cid, 1)
                assert archive.iterations_done(cid) == {0, 1}  # this thread reads its own writes
                seen_elsewhere = {}
                reader = threading.Thread(target=lambda: seen_elsewhere.update(done=other.iterations_done(cid)))
                reader.start()
                reader.join(30)
                assert seen_elsewhere["done"] == set()
            assert other.iterations_done(cid) == {0, 1}
        finally:
            other.close()
    finally:
        archive.close()


def test_a_block_that_fails_stores_nothing(db_url):
    archive = Archive(db_url)
    try:
        cid = _campaign(archive)
        with pytest.raises(RuntimeError):
            with archive.transaction():
                _program(archive, cid, 0)
                with archive.transaction():  # nested: joins the outer block
                    _program(archive, cid, 1)
                raise RuntimeError("the step failed")
        assert archive.iterations_done(cid) == set()
        _program(archive, cid, 0)  # the archive is usable afterwards, outside any block
        assert archive.iterations_done(cid) == {0}
    finally:
        archive.close()
