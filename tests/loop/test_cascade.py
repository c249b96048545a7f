"""Functional hashing and cascade stages in a real campaign (tests/fixtures/cascade_task)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from archive import Archive, EvaluationRole, ProgramState
from archive.schema import Cell, Evaluation, Program
from evolve.campaign import Campaign
from evolve.loop.cascade import stage_threshold
from evolve.config import build_config
from evolve.loop.controller import Controller
from evolve.executors import local_executor
from evolve.mutators import Edit, Mutator
from evaluators.task import StageRule

TASK = Path(__file__).parent.parent / "fixtures" / "cascade_task"
BLOCK = "# EVOLVE-BLOCK-START\ndef f(x):\n{body}\n# EVOLVE-BLOCK-END\n"
SEED_BODY = "    y = 0.5 * x + 0.1\n    if x > 0.5:\n        y = y + 0.2\n    return y"


class ScriptedMutator(Mutator):
    """Proposes the given programs in order (one per iteration)."""

    name = "scripted"

    def __init__(self, bodies: list[str]):
        self.bodies = bodies

    async def propose(self, context):
        body = self.bodies[context.iteration - 1]
        return Edit(BLOCK.format(body=body), self.name, f"script{context.iteration}")

    async def close(self):
        return None


def run_campaign(tmp_path, bodies, **overrides):
    archive = Archive(str(tmp_path / "c.db"))
    config = build_config(None, {"task_dir": str(TASK), "iterations": len(bodies), "workers": 1, "lag": 0,
                                 "islands": {"count": 1}, "heldout_report": False, **overrides})
    campaign = Campaign.create(archive, config)

    async def main():
        sandbox = local_executor("process", workers=1)
        try:
            return await Controller(campaign.run_spec(), sandbox, ScriptedMutator(bodies)).run()
        finally:
            await sandbox.close()

    summary = asyncio.run(main())
    with archive.session() as s:
        programs = {p.iteration: p for p in s.query(Program).all()}
    return archive, summary, programs


@pytest.mark.slow
def test_same_behaviour_in_another_form_is_merged_and_never_trained(tmp_path):
    reformulated = "    y = 0.1 + x * 0.5\n    if 0.5 < x:\n        y += 0.2\n    return y"  # another AST, same outputs
    archive, summary, programs = run_campaign(tmp_path, [reformulated])
    child = programs[1]
    assert child.state == ProgramState.FUNCTIONAL_DUPLICATE and child.duplicate_of == programs[0].id
    assert child.fingerprint == programs[0].fingerprint
    roles = {(e.split, e.role) for e in archive.evaluations_of(child.id)}
    assert roles == {("probe", EvaluationRole.STAGE)}  # it cost only the probe run
    assert summary["programs"][ProgramState.FUNCTIONAL_DUPLICATE.value] == 1


@pytest.mark.slow
def test_a_difference_on_a_rare_probe_input_is_not_merged(tmp_path):
    rare = SEED_BODY.replace("    return y", "    if x == 0.123:\n        return 7.0\n    return y")
    archive, _, programs = run_campaign(tmp_path, [rare])
    child = programs[1]
    assert child.state == ProgramState.EVALUATED and child.fingerprint != programs[0].fingerprint
    assert archive.training_evaluation(child.id).split == "train"


def test_hashing_can_be_switched_off(tmp_path):
    reformulated = "    y = 0.1 + x * 0.5\n    if 0.5 < x:\n        y += 0.2\n    return y"
    _, _, programs = run_campaign(tmp_path, [reformulated], functional_hashing=False)
    assert programs[1].state == ProgramState.EVALUATED and programs[1].fingerprint is None


@pytest.mark.slow
def test_a_child_far_worse_on_the_stage_is_cut_with_its_partial_metrics(tmp_path):
    archive, summary, programs = run_campaign(tmp_path, ["    return 5.0 + x", "    return 0.8 * x * x - 0.3 * x + 0.2"])
    cut, good = programs[1], programs[2]
    assert cut.state == ProgramState.CUT
    [stage] = [e for e in archive.evaluations_of(cut.id) if e.split == "stage"]
    assert stage.role == EvaluationRole.STAGE and stage.status == "ok" and stage.metrics["mse"] > 20
    assert archive.training_evaluation(cut.id) is None
    with archive.session() as s:
        assert s.query(Cell).filter(Cell.program_id == cut.id).count() == 0
        assert s.query(Evaluation).filter(Evaluation.program_id == cut.id, Evaluation.split == "train").count() == 0
    assert good.state == ProgramState.EVALUATED and archive.training_evaluation(good.id).score == pytest.approx(0)
    assert summary["programs"][ProgramState.CUT.value] == 1
    assert any(e.kind == "cut" and e.program_id == cut.id for e in archive.events(1))


@pytest.mark.slow
def test_stages_can_be_switched_off(tmp_path):
    _, _, programs = run_campaign(tmp_path, ["    return 5.0 + x"], cascade=False)
    assert programs[1].state == ProgramState.EVALUATED


@pytest.mark.slow
def test_a_crash_at_a_stage_is_the_verdict(tmp_path):
    archive, _, programs = run_campaign(tmp_path, ["    return undefined_name"])
    verdict = archive.training_evaluation(programs[1].id)
    assert verdict.status == "crashed" and verdict.split in ("probe", "stage")


def test_stage_threshold_rules():
    within = StageRule(within_parent_pct=10)
    assert stage_threshold(within, -2.0, []) == pytest.approx(-2.2)
    assert stage_threshold(within, None, []) is None
    top = StageRule(top_fraction=0.25, window=8)
    assert stage_threshold(top, None, [1, 2, 3]) is None  # too few recent children to judge
    assert stage_threshold(top, None, [1, 2, 3, 4, 5, 6, 7, 8]) == 7
    both = StageRule(within_parent_pct=10, top_fraction=0.25, window=8)
    assert stage_threshold(both, -2.0, [1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(-2.2)  # either suffices


def test_spot_probe_fingerprints_separate_policies_and_stage_is_a_train_subset():
    from evaluators.tasks.spot_scheduling import scenarios
    from evaluators.task import load_task

    task = load_task("spot_scheduling")
    train = {s.name for s in scenarios.train()}
    assert {s.name for s in scenarios.stage()} < train and len(scenarios.stage()) == len(train) // 6

    async def fingerprints():
        sandbox = local_executor("process", workers=1)
        try:
            out = []
            for code in (task.seed_code, task.seed_code.replace("# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-START\n"),
                         task.baseline_code("uniform_progress")):
                result = await sandbox.evaluate(task, code, split="probe", options={"fingerprint": {"digits": 6}})
                assert result.ok, result.artifacts
                out.append(result.artifacts["fingerprint"])
            return out
        finally:
            await sandbox.close()

    greedy, greedy_again, uniform = asyncio.run(fingerprints())
    assert greedy == greedy_again and greedy != uniform


@pytest.mark.slow
def test_binpack_probe_fingerprints_merge_rewrites_and_separate_heuristics():
    from evaluators.task import load_task

    task = load_task("binpack_online")
    best_fit = task.baseline_code("best_fit")
    rewritten = best_fit.replace("-(bins - item)", "item - bins") if "-(bins - item)" in best_fit else None
    assert rewritten and rewritten != best_fit

    async def fingerprints():
        sandbox = local_executor("process", workers=1)
        try:
            out = []
            for code in (best_fit, rewritten, task.baseline_code("first_fit")):
                result = await sandbox.evaluate(task, code, split="probe", options={"fingerprint": {"digits": 6}})
                assert result.ok, result.artifacts
                out.append(result.artifacts["fingerprint"])
            return out
        finally:
            await sandbox.close()

    best, same, first = asyncio.run(fingerprints())
    assert best == same and best != first


@pytest.mark.slow
def test_cut_and_merged_children_read_well_in_the_dashboard_events(tmp_path):
    from evolve.tui.dashboard import describe_event

    reformulated = "    y = 0.1 + x * 0.5\n    if 0.5 < x:\n        y += 0.2\n    return y"
    archive, _, programs = run_campaign(tmp_path, [reformulated, "    return 5.0 + x"])
    texts = {e.kind: describe_event(e).plain for e in archive.events(1, limit=100)}
    assert texts["functional_duplicate"] == f"same outputs as #{programs[0].id} on the probe inputs"
    assert texts["cut"].startswith("cut at stage stage: ")


@pytest.mark.slow
def test_same_behaviour_in_another_code_niche_is_evaluated_not_merged(tmp_path):
    """With a code descriptor on the map, a twin whose code lands in another cell is worth its evaluation."""
    longer = ("    unused = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]\n    y = 0.5 * x + 0.1\n    if x > 0.5:\n"
              "        y = y + 0.2\n    return y")
    shorter = "    y = 0.1 + x * 0.5\n    if 0.5 < x:\n        y += 0.2\n    return y"  # same size bin as the seed
    descriptors = [{"name": "bias", "range": [-1.0, 1.0], "bins": 8}, {"name": "code_size", "range": [0, 400], "bins": 40}]
    archive, _, programs = run_campaign(tmp_path, [longer, shorter], descriptors=descriptors)
    assert programs[1].fingerprint == programs[0].fingerprint == programs[2].fingerprint
    assert programs[1].state == ProgramState.EVALUATED  # another code_size cell: evaluated
    assert programs[2].state == ProgramState.FUNCTIONAL_DUPLICATE  # same cell as the seed: merged


@pytest.mark.slow
def test_a_child_worse_on_the_stage_is_not_cut_where_it_opens_a_column_of_the_grid(tmp_path):
    """A stage cuts only children that compete for a held cell: one whose code_size bin no elite occupies
    lands in an empty cell whatever it scores, so it is trained; the next one in that column is cut."""
    worse = "    return 5.0 + x"  # far worse on the stage than the seed, and much shorter
    padded = "    unused = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]\n    return 5.0 + x + 0.0"
    descriptors = [{"name": "bias", "range": [-1.0, 1.0], "bins": 8}, {"name": "code_size", "range": [0, 400], "bins": 8}]
    archive, _, programs = run_campaign(tmp_path, [worse, worse.replace("5.0", "6.0"), padded],
                                        descriptors=descriptors)
    seed, first, second, third = (programs[i] for i in range(4))
    size_bin = lambda p: min(7, len(p.code) // 50)  # noqa: E731
    assert size_bin(first) != size_bin(seed) == size_bin(third)
    assert first.state == ProgramState.EVALUATED          # a column of its own: trained, an elite there
    with archive.session() as s:
        assert s.query(Cell).filter(Cell.program_id == first.id).count() == 1
    assert second.state == ProgramState.CUT               # the same column, now held by the first
    assert third.state == ProgramState.CUT                # the seed's column


def test_the_run_summary_says_what_the_cascade_spared(capsys):
    from types import SimpleNamespace

    from evolve.commands.run import print_summary
    summary = {"state": "finished", "iterations_done": 200, "evaluated": 52, "failures": 0, "best_score": -4.0,
               "programs": {"evaluated": 52, "functional_duplicate": 107, "cut": 42}}
    print_summary(SimpleNamespace(name="c", message=None), summary, None)
    line = " ".join(capsys.readouterr().out.split())
    assert "0 duplicates · 107 functional duplicates · 42 cut · best train score" in line
    summary["programs"] = {"evaluated": 10}
    print_summary(SimpleNamespace(name="c", message=None), summary, None)
    assert "0 duplicates · best train score" in " ".join(capsys.readouterr().out.split())
