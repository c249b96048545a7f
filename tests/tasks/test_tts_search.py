"""tts_search end to end through the jailed sandbox, on a few problems of the training split."""
from __future__ import annotations

import asyncio

import pytest

from evaluators.task import load_task
from evaluators.contract import Status
from evolve.executors import make_sandbox

TASK = load_task("tts_search")
FEW = {"limit": 4}

OVER_BUDGET = '''
def search(problem, lm):
    (first,), = lm.sample([problem["root"]], n=1, steps=0, temperature=0.0)
    while True:                      # keep sampling until the budget refuses, then answer anyway
        try:
            lm.sample([problem["root"]], n=64, steps=0)
        except Exception:
            break
    return first["answer"]
'''
GREEDY = TASK.baseline_code("greedy")
GARBAGE = 'def search(problem, lm):\n    return "the answer is 42"\n'
FLOAT = 'def search(problem, lm):\n    return 42.0\n'
BAD_NODE = '''
def search(problem, lm):
    try:
        lm.sample([problem["root"] + 10**6], n=2)
    except Exception as exc:
        assert "not a node id" in str(exc), exc
        return None
    raise AssertionError("the scorer accepted a made-up node id")
'''
NO_TEXT = '''
def search(problem, lm):
    assert set(problem) == {"id", "level", "n_ops", "root", "budget"}, problem
    (child,), = lm.sample([problem["root"]], n=1, steps=1, temperature=0.0)
    assert set(child) == {"id", "parent", "steps", "done", "answer", "logprob", "tokens"}, child
    return None
'''


def _evaluate(codes: list[str], split: str = "train", options: dict | None = None):
    async def go():
        sandbox = make_sandbox("process", workers=1)
        try:
            return [await sandbox.evaluate(TASK, code, split=split, options=options or FEW) for code in codes]
        finally:
            await sandbox.close()
    return asyncio.run(go())


@pytest.fixture(scope="module")
def results():
    return dict(zip(["greedy", "over", "garbage", "float", "bad_node", "no_text"],
                    _evaluate([GREEDY, OVER_BUDGET, GARBAGE, FLOAT, BAD_NODE, NO_TEXT])))


@pytest.mark.slow
def test_greedy_baseline_reports_accuracy_and_flops(results):
    res = results["greedy"]
    assert res.status is Status.OK, res.artifacts
    m = res.metrics
    assert 0.0 <= m["accuracy"] <= 1.0 and res.score == pytest.approx(100 * m["accuracy"])
    assert m["verifier_flops_per_problem"] == 0 and m["generator_flops_per_problem"] > 1e6
    assert m["flops_per_problem"] == m["generator_flops_per_problem"]
    assert m["budget_exceeded_fraction"] == 0 and m["answered_fraction"] > 0


def test_going_over_the_budget_makes_every_problem_wrong(results):
    greedy, over = results["greedy"], results["over"]
    assert over.status is Status.OK, over.artifacts
    assert greedy.metrics["accuracy"] > 0, "need a problem greedy solves to show the budget voids it"
    assert over.metrics["budget_exceeded_fraction"] == 1.0
    assert over.metrics["accuracy"] == 0.0
    assert over.metrics["flops_per_problem"] > 1.0e10


@pytest.mark.parametrize("name", ["garbage", "float"])
def test_garbage_answers_make_the_evaluation_invalid(results, name):
    assert results[name].status is Status.INVALID
    assert "expected an int or None" in results[name].artifacts["message"]


def test_service_refuses_made_up_node_ids_and_hides_problem_text(results):
    assert results["bad_node"].status is Status.OK, results["bad_node"].artifacts
    assert results["no_text"].status is Status.OK, results["no_text"].artifacts


UNCAUGHT = '''
def search(problem, lm):
    while True:                      # lets the budget refusal escape: loses the problem, not the run
        lm.sample([problem["root"]], n=64, steps=0)
'''


@pytest.mark.slow
def test_a_budget_refusal_that_escapes_loses_only_the_problem():
    (res,) = _evaluate([UNCAUGHT], options={"limit": 2, "flops_budget": 2e8})
    assert res.status is Status.OK, res.artifacts
    assert res.metrics["budget_exceeded_fraction"] == 1.0 and res.metrics["accuracy"] == 0.0


@pytest.mark.slow
def test_seed_runs_with_verifier_flops_booked_apart():
    (res,) = _evaluate([TASK.seed_code], options={"limit": 2})
    assert res.status is Status.OK, res.artifacts
    assert res.metrics["verifier_flops_per_problem"] > 0 and res.metrics["generator_flops_per_problem"] > 0
