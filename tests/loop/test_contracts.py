"""The loop's seams are documented base classes: a new mutator or executor is a subclass that runs a
campaign with no change to the controller. Both below are whole, working extensions."""
import asyncio
import re

from archive import Archive
from core_support import query
from evaluators.contract import Executor
from evolve.campaign import Campaign
from evolve.config import build_config
from evolve.executors import local_executor
from evolve.loop.controller import Controller
from evolve.mutators import Edit, HistoryNeeds, MutationContext, Mutator

NUMBER = re.compile(r"(?<![\w.])\d+\.\d+")


class NudgeMutator(Mutator):
    """Moves one decimal literal of the parent by a seeded factor: the smallest useful mutator."""

    name = "nudge"

    def history_needs(self) -> HistoryNeeds:
        return HistoryNeeds(operator_states=True)  # read, to show a mutator declares what it needs

    async def propose(self, context: MutationContext) -> Edit:
        code = context.parent.code
        literals = list(NUMBER.finditer(code))
        if not literals:
            return Edit(None, self.name, "nudge", error="no decimal literal to move")
        chosen = context.rng.choice(literals)
        value = float(chosen.group()) * context.rng.choice((0.5, 0.8, 1.25, 2.0))
        child = code[:chosen.start()] + f"{value:.6g}" + code[chosen.end():]
        return Edit(child, self.name, "nudge", description=f"{chosen.group()} -> {value:.6g}")


class FreshWorkerExecutor(Executor):
    """Each evaluation in a sandbox worker started for it alone (slow, simple): only `evaluate` is required."""

    name = "fresh-worker"

    async def evaluate(self, task, code, limits=None, split=None, options=None):
        executor = local_executor("process", workers=1)
        try:
            return await executor.evaluate(task, code, limits, split=split, options=options)
        finally:
            await executor.close()


def _campaign(tmp_path, toy_task_dir, iterations):
    archive = Archive(str(tmp_path / "archive.db"))
    config = build_config(None, {"task_dir": str(toy_task_dir), "iterations": iterations, "workers": 1,
                                 "heldout_report": False})
    return archive, Campaign.create(archive, config)


def test_a_new_mutator_runs_a_campaign_through_the_unchanged_controller(tmp_path, toy_task_dir):
    archive, campaign = _campaign(tmp_path, toy_task_dir, 12)
    executor = local_executor("process", workers=2)

    async def main():
        try:
            return await Controller(campaign.run_spec(), executor, NudgeMutator()).run()
        finally:
            await executor.close()
    summary = asyncio.run(main())
    assert summary["state"] == "finished"
    assert summary["iterations_done"] == 12 and summary["evaluated"] >= 2
    rows = query(str(tmp_path / "archive.db"), "select operator, mutator from programs where iteration > 0")
    assert {(r["operator"], r["mutator"]) for r in rows} == {("nudge", "nudge")}


def test_a_new_executor_runs_a_campaign_through_the_unchanged_controller(tmp_path, toy_task_dir):
    archive, campaign = _campaign(tmp_path, toy_task_dir, 6)
    summary = asyncio.run(Controller(campaign.run_spec(), FreshWorkerExecutor(), NudgeMutator()).run())
    assert summary["state"] == "finished" and summary["evaluated"] >= 2
    assert summary["evaluations"].get("ok", 0) >= 2
