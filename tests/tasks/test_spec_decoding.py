"""spec_decoding: losslessness is enforced; baselines run end to end through the sandbox."""
from __future__ import annotations

import asyncio

import pytest

from evaluators.api import InvalidOutput
from evaluators.tasks.models import corpus
from evaluators.tasks.models.flops import Meter
from evaluators.tasks.spec_decoding.prompts import n_new, prompt_set
from evaluators.tasks.spec_decoding.scorer import check_output, spec_models
from evaluators.tasks.spec_decoding.session import SpecSession, greedy_reference
from evaluators.task import load_task
from evaluators.contract import Status
from evolve.executors import local_executor

TASK = load_task("spec_decoding")
FEW = {"limit": 2}

TAMPER = '''
def speculate(lm, n_new):
    out = []
    while len(out) < n_new:
        lm.draft(4)
        out += lm.verify()["tokens"]
    out[n_new // 2] = (out[n_new // 2] + 1) % 96     # one token changed
    return out
'''
UNVERIFIED = '''
def speculate(lm, n_new):
    out = []
    while len(out) < n_new:               # trusts the draft without asking the target
        out += lm.draft(1)["tokens"]
        if lm.state()["pending"] == 16:
            out += lm.verify()["tokens"][-1:]
    return out
'''
SHORT = 'def speculate(lm, n_new):\n    return lm.verify()["tokens"]\n'


def _evaluate(codes: list[str], options: dict | None = None):
    async def go():
        sandbox = local_executor("process", workers=1)
        try:
            return [await sandbox.evaluate(TASK, code, split="train", options=options or FEW) for code in codes]
        finally:
            await sandbox.close()
    return asyncio.run(go())


@pytest.fixture(scope="module")
def results():
    codes = [TASK.baseline_code("fixed_k1"), TASK.baseline_code("fixed_k4"), TASK.baseline_code("confidence_threshold"),
             TAMPER, UNVERIFIED, SHORT]
    return dict(zip(["k1", "k4", "threshold", "tamper", "unverified", "short"], _evaluate(codes)))


@pytest.mark.slow
def test_baselines_are_exact_and_report_cost_metrics(results):
    for name in ("k1", "k4", "threshold"):
        res = results[name]
        assert res.status is Status.OK, res.artifacts
        m = res.metrics
        assert m["exact"] == 1.0 and res.score == pytest.approx(m["speedup"]) and m["speedup"] > 0
        assert 0 < m["target_calls_per_token"] <= 1.0 and 0 <= m["acceptance_rate"] <= 1
        assert m["flops_per_token"] == pytest.approx(m["target_flops_per_token"] + m["draft_flops_per_token"])
    # longer drafts need fewer target passes per token
    assert results["k4"].metrics["target_calls_per_token"] < results["k1"].metrics["target_calls_per_token"]


@pytest.mark.parametrize("name", ["tamper", "unverified", "short"])
def test_lossless_check_catches_tampered_unverified_or_short_output(results, name):
    res = results[name]
    assert res.status is Status.INVALID, (res.status, res.artifacts)
    assert "lossless" in res.artifacts["message"] or "required" in res.artifacts["message"]


def test_check_output_pinpoints_the_first_wrong_token():
    ref = (5, 6, 7, 8)
    check_output([5, 6, 7, 8, 9], [5, 6, 7, 8, 9], ref, 4, 0)
    with pytest.raises(InvalidOutput, match="at token 2"):
        check_output([5, 6, 0, 8], [5, 6, 7, 8], ref, 4, 0)
    with pytest.raises(InvalidOutput, match="ints"):
        check_output(["a"], [5], ref, 4, 0)


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3, 7])
def test_session_commits_exactly_the_targets_greedy_output(k):
    target, draft = spec_models("cpu")
    prompt = corpus.encode("Return a new list containing all items from the ")
    reference, _ = greedy_reference(prompt, 40, target, Meter(count=False))
    session = SpecSession(prompt, 40, target, draft, {}, corpus.VOCAB_SIZE)
    while not session.done:
        session.draft(k)
        session.verify()
    assert session.committed[:40] == reference
    assert sum(a for _, a in session.rounds) + len(session.rounds) == len(session.committed)


def test_validation_is_a_second_draw_of_train_disjoint_from_heldout():
    names = ("train", "validation", "heldout", "heldout_resample")
    splits = {name: set(prompt_set(name)) for name in names}
    assert len(splits["validation"]) == len(splits["train"]) == len(prompt_set("train"))
    assert len(splits["heldout_resample"]) == len(splits["heldout"]) == len(prompt_set("heldout"))
    assert n_new("validation") == n_new("train") and n_new("heldout_resample") == n_new("heldout")
    assert sum(len(p) for p in splits.values()) == len(set().union(*splits.values()))  # no prompt in two splits
    assert TASK.spec.validation_split == "validation" and TASK.spec.reference_baseline == "confidence_threshold"


@pytest.mark.parametrize("name", ["fixed_k1", "confidence_threshold"])
def test_recorded_validation_figures_are_reproduced(name):
    async def go():
        sandbox = local_executor("process", workers=1)
        try:
            return await sandbox.evaluate(TASK, TASK.baseline_code(name), split="validation")
        finally:
            await sandbox.close()
    result = asyncio.run(go())
    assert result.status is Status.OK, result.artifacts
    for key, value in TASK.spec.baselines[name].measured["validation"].items():
        assert result.metrics[key] == pytest.approx(value, rel=1e-3), key
