"""tts_search end to end through the jailed sandbox, on a few problems of the training split."""
from __future__ import annotations

import asyncio

import pytest

from evaluators.task import load_task
from evaluators.contract import Status
from evolve.executors import local_executor

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
        sandbox = local_executor("process", workers=1)
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


def test_splits_are_disjoint_and_no_model_trained_on_them():
    from evaluators.tasks.models.train import GENERATOR_EXCLUDED, eval_problem_texts, generator_training_texts
    from evaluators.tasks.tts_search.problems import SPLITS, problem_set

    assert set(SPLITS) == set(TASK.spec.splits) and TASK.spec.validation_split == "validation"
    texts = {split: [p.text for p in problem_set(split)] for split in SPLITS}
    assert {split: len(t) for split, t in texts.items()} == {"train": 32, "validation": 100, "heldout": 200}
    assert [p.level for p in problem_set("validation")] == [1] * 25 + [2] * 25 + [3] * 25 + [4] * 25
    every = [t for split in texts.values() for t in split]
    assert len(set(every)) == len(every), "the splits share a problem"
    # Every model's training data excludes train and heldout; the verifier's also excludes validation,
    # and the generator (trained before that split) never drew a validation problem.
    assert set(texts["train"]) | set(texts["heldout"]) <= eval_problem_texts(GENERATOR_EXCLUDED)
    assert set(texts["validation"]) <= eval_problem_texts()
    assert not set(every) & generator_training_texts()


GREEDY_ONLY = ["greedy", "majority_vote"]                             # no verifier
BY_GRANULARITY = ["beam_search", "vg_search", "vg_search_g4", "best_of_n"]   # g = 1, 2, 4, infinity


def _remeasure(names: list[str], split: str) -> dict:
    async def go():
        sandbox = local_executor("process", workers=2)
        try:
            runs = [sandbox.evaluate(TASK, TASK.baseline_code(n), split=split, options={"limit": 10**6}) for n in names]
            return dict(zip(names, await asyncio.gather(*runs)))
        finally:
            await sandbox.close()
    results = asyncio.run(go())
    for name, res in results.items():
        assert res.status is Status.OK, (name, res.artifacts)
    return {name: res.metrics for name, res in results.items()}


@pytest.fixture(scope="module")
def validation():
    return _remeasure(GREEDY_ONLY + BY_GRANULARITY, "validation")


@pytest.mark.parametrize("name", GREEDY_ONLY + BY_GRANULARITY)
def test_baselines_reproduce_their_published_validation_figures(validation, name):
    published = TASK.spec.baselines[name].measured["validation"]
    for key, value in published.items():
        assert validation[name][key] == pytest.approx(value, rel=1e-3, abs=1e-9), (name, key)


def _search_pays(metrics: dict) -> None:
    """The shape the README claims: verifier-guided search beats greedy at every granularity
    (so greedy, the cheapest point, dominates none of them), and beats majority vote."""
    greedy = metrics["greedy"]
    for name in BY_GRANULARITY:
        assert metrics[name]["accuracy"] > greedy["accuracy"], name
        assert metrics[name]["accuracy"] > metrics["majority_vote"]["accuracy"], name
    flops = [metrics[name]["flops_per_problem"] for name in BY_GRANULARITY]
    assert flops == sorted(flops, reverse=True), "coarser verification must cost fewer FLOPs"


def test_search_pays_on_validation_remeasured(validation):
    _search_pays(validation)


def test_search_pays_in_the_published_heldout_figures_and_the_reference_is_the_strongest():
    heldout = {name: spec.measured["heldout"] for name, spec in TASK.spec.baselines.items()}
    _search_pays(heldout)
    assert TASK.spec.reference_baseline == max(heldout, key=lambda n: heldout[n]["accuracy"])
