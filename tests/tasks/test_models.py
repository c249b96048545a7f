"""The shared model package: FLOP counting, KV cache, domain, training script, shipped weights."""
from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch

from evaluators.tasks.models import arith, corpus, train
from evaluators.tasks.models.decoding import continue_batch, score_prefixes, solution_probabilities
from evaluators.tasks.models.flops import Meter, analytic_forward_flops
from evaluators.tasks.models.registry import WEIGHTS, load_model, pick_device
from evaluators.tasks.models.transformer import Config, Transformer
from torch.utils.flop_counter import FlopCounterMode

LM = Config(vocab=len(arith.VOCAB), d_model=48, n_layers=2, n_heads=4, max_len=64)
PRM = Config(vocab=len(arith.VOCAB), d_model=32, n_layers=3, n_heads=2, max_len=64, n_out=1)


def _counted(model, idx, cache=None, last_only=False) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(idx, cache=cache, last_only=last_only)
    return counter.get_total_flops()


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [LM, PRM], ids=["lm", "verifier"])
def test_flop_counter_matches_analytic_formula_with_and_without_kv_cache(cfg):
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    cache = model.new_cache()
    # prefill, one-token decoding steps, a multi-token (speculative) chunk, last-only projection
    for batch, new, last_only in [(3, 17, True), (3, 1, True), (3, 1, False), (3, 5, False), (3, 1, True)]:
        past = cache.length
        counted = _counted(model, torch.randint(3, cfg.vocab, (batch, new)), cache, last_only)
        expected = analytic_forward_flops(cfg, batch, new, past, last_only)
        assert abs(counted - expected) <= 0.02 * expected, (batch, new, past, counted, expected)
    assert cache.length == 17 + 1 + 1 + 5 + 1


@pytest.mark.slow
def test_meter_memoised_counts_equal_fresh_counts():
    torch.manual_seed(0)
    model = Transformer(LM).eval()
    fresh, memo = Meter(memo=False), Meter(memo=True)
    for meter in (fresh, memo):
        for _ in range(2):
            cache = model.new_cache()
            meter.forward("m", model, torch.randint(3, 19, (2, 9)), cache, last_only=True)
            for _ in range(4):
                meter.forward("m", model, torch.randint(3, 19, (2, 1)), cache, last_only=True)
    assert fresh.flops("m") == memo.flops("m") > 0
    assert fresh.tallies["m"].calls == memo.tallies["m"].calls == 10
    expected = 2 * (analytic_forward_flops(LM, 2, 9, 0, True)
                    + sum(analytic_forward_flops(LM, 2, 1, 9 + i, True) for i in range(4)))
    assert memo.flops("m") == expected


def test_kv_cached_decoding_matches_full_forward():
    torch.manual_seed(1)
    model = Transformer(LM).eval()
    seq = torch.randint(3, 19, (2, 20))
    with torch.inference_mode():
        full = model(seq)
        cache = model.new_cache()
        parts = [model(seq[:, :7], cache=cache), model(seq[:, 7:8], cache=cache), model(seq[:, 8:20], cache=cache)]
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)
    cache.truncate(8)
    with torch.inference_mode():
        again = model(seq[:, 8:12], cache=cache)
    assert torch.allclose(again, full[:, 8:12], atol=1e-5)


@pytest.mark.slow
def test_continue_batch_stops_at_step_boundaries_and_books_what_it_computes():
    torch.manual_seed(0)
    model = Transformer(LM).eval()
    meter = Meter()
    prompt = arith.prompt_tokens(arith.problems(5, 1, levels=(1,))[0])
    (samples,) = continue_batch(model, meter, "g", [prompt], 4, boundaries=arith.BOUNDARIES, eos=arith.EOS,
                                steps=1, temperature=1.0, generator=torch.Generator().manual_seed(0))
    for s in samples:
        assert s.finished or s.tokens[-1] in arith.BOUNDARIES
        assert sum(t in arith.BOUNDARIES for t in s.tokens) <= 1
    assert meter.flops("g") >= analytic_forward_flops(LM, 1, len(prompt), 0, True)
    scores = score_prefixes(Transformer(PRM).eval(), meter, "v", [prompt, prompt + samples[0].tokens])
    assert len(scores) == 2 and all(0 < s < 1 for s in scores)


def test_arith_labels_and_answers():
    problem = arith.Problem(7, (("+", 5), ("*", 3), ("-", 8)))
    assert problem.text == "7+5*3-8" and problem.level == 1
    assert problem.steps() == ["7+5=2\n", "2*3=6\n", "6-8=8\n", "#8"]
    good = arith.solution_tokens(problem)
    assert arith.step_labels(problem, good) == [True] * 4 and arith.final_answer(good) == 8
    bad = arith.encode("7+5=2\n2*3=5\n5-8=7\n#7") + [arith.EOS]
    assert arith.step_labels(problem, bad) == [True, False, False, False]
    assert arith.final_answer(bad) == 7
    assert arith.final_answer(arith.encode("7+5=2\n#6")) is None  # unfinished: no end token
    levels = [p.level for p in arith.problems(3, 5)]
    assert levels == [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5
    for p in arith.problems(4, 50):
        assert all(0 <= v <= 9 for v in p.values())
        assert len(arith.prompt_tokens(p)) + len(arith.solution_tokens(p)) <= arith.MAX_LEN


def test_auroc():
    assert train.auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert train.auroc([0.5, 0.5], [True, False]) == 0.5


def test_corpus_round_trip_and_split():
    text = corpus.text()
    assert len(text) > 100_000 and set(text) <= set(corpus.CHARS)
    train_text, heldout = corpus.splits()
    assert train_text + heldout == text and 0.03 < len(heldout) / len(text) < 0.07
    assert corpus.decode(corpus.encode("def f(x):\n    return x")) == "def f(x):\n    return x"


@pytest.mark.slow
def test_training_script_runs_a_few_steps_and_its_weights_load(tmp_path):
    assert train.main(["--scale", "0.003", "--out", str(tmp_path), "--only", "generator", "--only", "verifier",
                       "--only", "draft", "--threads", "1"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {"generator", "verifier", "draft"} <= set(manifest)
    assert manifest["verifier"]["init_from"] == "generator" and manifest["verifier"]["report"]["steps"] > 0
    for name in ("generator", "verifier", "draft"):
        model = load_model(name, weights=tmp_path)
        assert model.n_params() == manifest[name]["params"]
        assert set(manifest[name]["report"])
        assert manifest[name]["sha256"] == train.weights_digest(tmp_path / f"{name}.pt")


def test_shipped_weights_are_small_plain_state_dicts_and_documented():
    files = list(WEIGHTS.glob("*.pt"))
    assert {f.stem for f in files} == {"generator", "verifier", "target", "draft", "deep"}
    assert sum(f.stat().st_size for f in files) <= 20 * 2**20
    manifest = json.loads((WEIGHTS / "manifest.json").read_text())
    for f in files:
        state = torch.load(f, weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        assert manifest[f.stem]["train_seconds"] > 0
    assert 0.5 < manifest["verifier"]["report"]["step_auroc"] <= 1.0
    report = manifest["verifier"]["report"]
    assert report["best_of_8_accuracy"] > report["sample_accuracy"], "the verifier must pick better than chance"


def test_shipped_weights_match_the_digests_in_their_manifest():
    manifest = json.loads((WEIGHTS / "manifest.json").read_text())
    for f in WEIGHTS.glob("*.pt"):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        assert digest == manifest[f.stem]["sha256"], f"{f.name} is not the file its manifest entry describes"


def test_device_auto_picks_cuda_only_when_available():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"


def test_solution_probabilities_is_the_probability_of_the_solution_tokens():
    torch.manual_seed(2)
    model = Transformer(LM).eval()
    prompt = arith.prompt_tokens(arith.problems(6, 1, levels=(1,))[0])
    solution = arith.encode("7+5=2\n2*3=6\n")
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([prompt + solution])), dim=-1)[0]
    expected = sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(solution))
    meter = Meter()
    got = solution_probabilities(model, meter, "v", [prompt + solution, prompt, prompt + solution[:3]],
                                 [len(prompt)] * 3, pad=arith.PAD)
    assert got[0] == pytest.approx(math.exp(expected), rel=1e-4)
    assert got[1] == 1.0                      # nothing written yet: nothing to doubt
    assert 1.0 > got[2] > got[0]              # a prefix is at least as likely as its extension
    assert meter.flops("v") == analytic_forward_flops(LM, 3, len(prompt) + len(solution))
