"""A child that differs from a known program only in comments or formatting is recorded as a
duplicate and never evaluated again."""
import asyncio

from archive import Archive
from archive.schema import Evaluation, Program
from evaluators.task import load_task
from evolve.config import build_config
from evolve.campaign import Campaign
from evolve.loop.controller import Controller
from evolve.mutators import Edit, Mutator
from evolve.executors import local_executor


class ReformattingMutator(Mutator):
    """Returns the parent with a comment and different spacing: same AST, so a duplicate."""

    name = "reformat"

    async def propose(self, context):
        code = context.parent.code.replace("y = 0.5 * x + 0.1", "y = 0.5*x+0.1  # same program")
        return Edit(code, self.name, "reformat")

    async def close(self):
        return None


def test_duplicates_are_recorded_and_not_evaluated(tmp_path, toy_task_dir):
    task = load_task(task_dir=toy_task_dir)
    config = build_config(None, {"task_dir": str(toy_task_dir), "iterations": 3, "workers": 1, "lag": 0})
    archive = Archive(str(tmp_path / "d.db"))
    campaign = Campaign.create(archive, config.model_copy(update={'name': "d"}))

    async def main():
        sandbox = local_executor("process", workers=1)
        try:
            return await Controller(campaign.run_spec(), sandbox, ReformattingMutator()).run()
        finally:
            await sandbox.close()

    summary = asyncio.run(main())
    assert summary["state"] == "finished" and summary["iterations_done"] == 3
    with archive.session() as s:
        seed = s.query(Program).filter_by(iteration=0).one()
        children = s.query(Program).filter(Program.iteration > 0).all()
        evaluated = s.query(Evaluation.program_id).all()
    assert [c.state for c in children] == ["duplicate"] * 3
    assert all(c.duplicate_of == seed.id for c in children)
    assert evaluated == [(seed.id,)]
    assert archive.count_events(campaign.id, "duplicate") == 3
