"""The loop's own database work per proposal (bench/bench_loop.py times it): a parent's earlier children are
read only when the operator mix can use them. Real campaigns on the toy task: a real SQLite file, real
evaluation workers, the real openai SDK talking to the local fake server."""
import asyncio

import pytest
from sqlalchemy import event

from archive import Archive
from core_support import TOY_TASK
from evolve.campaign import Campaign
from evolve.config import build_config
from llm_server import FakeLLM


def _children_queries(tmp_path, monkeypatch, mix: dict) -> int:
    with FakeLLM() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        archive = Archive(str(tmp_path / "a.db"))
        config = build_config(None, {"task_dir": str(TOY_TASK), "iterations": 6, "workers": 1, "mix": mix,
                                     "llm": [{"provider": "openai", "model": "fake-model", "timeout": 30}],
                                     "heldout_report": False})
        statements = []
        event.listen(archive.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        try:
            outcome = asyncio.run(Campaign.create(archive, config).run())
        finally:
            archive.close()
    assert outcome.summary["iterations_done"] == 6
    return sum(1 for s in statements if "programs.parent_id = " in s and "programs.operator IN" in s)


@pytest.mark.parametrize("offline, expected", [(0, False), (1, True)])
def test_earlier_children_are_read_only_when_offline_edits_can_be_drawn(tmp_path, monkeypatch, offline, expected):
    mix = {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": offline}
    assert (_children_queries(tmp_path, monkeypatch, mix) > 0) is expected
