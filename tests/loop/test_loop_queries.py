"""The loop's own database work per proposal (bench/bench_loop.py times it): a parent's earlier children are
read only when the operator mix can use them. Real campaigns on the toy task: a real SQLite file, real
evaluation workers, the real openai SDK talking to the local fake server."""
import asyncio
import sqlite3

import pytest
from sqlalchemy import event

from archive import Archive
from core_support import TOY_TASK
from evolve.campaign import Campaign
from evolve.config import build_config
from evolve.mutators.operators import OPERATORS
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
    children = [s for s in statements if "programs.operator IN" in s]
    return (sum(1 for s in children if "programs.parent_id = " in s),
            sum(1 for s in children if "ORDER BY programs.iteration DESC" in s))


@pytest.mark.parametrize("offline, expected", [(0, False), (1, True)])
def test_earlier_children_are_read_only_when_offline_edits_can_be_drawn(tmp_path, monkeypatch, offline, expected):
    mix = {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": offline}
    parents, campaign = _children_queries(tmp_path, monkeypatch, mix)
    assert (parents > 0) is expected and (campaign > 0) is expected


@pytest.mark.slow
def test_the_campaigns_latest_children_are_every_parents_children_newest_first(tmp_path):
    """What grow_expression pools across parents (MutationContext.campaign_children) is exactly the union of
    each parent's children by it (children_by_operator), newest first, cut to the limit."""
    archive = Archive(str(tmp_path / "a.db"))
    try:
        # only these two operators (the others at weight 0): grow_expression gets about half the children
        operators = dict.fromkeys(OPERATORS, 0) | {"grow_expression": 1, "perturb_constant": 1}
        config = build_config(None, {"task_dir": str(TOY_TASK), "iterations": 40, "workers": 2, "seed": 5,
                                     "operators": operators, "heldout_report": False})
        campaign = Campaign.create(archive, config)
        asyncio.run(campaign.run())
        latest = archive.recent_children_by_operator(campaign.id, ["grow_expression"])
        assert latest and [c["iteration"] for c in latest] == sorted((c["iteration"] for c in latest), reverse=True)
        by_parent = [c for parent in {c["parent_id"] for c in latest}
                     for c in archive.children_by_operator(campaign.id, parent, ["grow_expression"])]
        by_iteration = lambda c: c["iteration"]  # noqa: E731
        assert sorted(latest, key=by_iteration) == sorted(by_parent, key=by_iteration)
        first = archive.recent_children_by_operator(campaign.id, ["grow_expression"], limit=3)
        assert [c["iteration"] for c in first] == [c["iteration"] for c in latest[:3]]
        # operator_states: a parent's children by operator and state, and the campaign's (every parent's) sums
        with sqlite3.connect(tmp_path / "a.db") as con:
            rows = con.execute("select parent_id, operator, state from programs where campaign_id = ? "
                               "and iteration > 0", (campaign.id,)).fetchall()
        totals = {}
        for parent in {r[0] for r in rows}:
            mine, everyone = archive.operator_states(campaign.id, parent)
            expected = {}
            for _, operator, state in (r for r in rows if r[0] == parent):
                expected.setdefault(operator, {}).setdefault(state, 0)
                expected[operator][state] += 1
            assert mine == expected
            for operator, states in mine.items():
                for state, count in states.items():
                    totals.setdefault(operator, {}).setdefault(state, 0)
                    totals[operator][state] += count
        assert everyone == totals
    finally:
        archive.close()
