"""token_halting: the simulator is the model, FLOPs follow the pinned formula, the policy cannot see ahead,
and baselines and hostile policies run end to end through the process sandbox."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F

from evaluators.contract import Status
from evaluators.runner import LocalExecutor
from evaluators.task import load_task
from evaluators.tasks.models import registry
from evaluators.tasks.models.flops import Meter, analytic_forward_flops
from evaluators.tasks.models.train import weights_digest
from evaluators.tasks.token_halting import flops, scorer, texts
from evaluators.tasks.token_halting.simulator import decode

TASK = load_task("token_halting")
FEW = {"limit": 3}


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return scorer.halting_model("cpu")


def _streams(split="train", n=3, tokens=24):
    return texts.streams(split)[:n, :tokens + 1]


def test_shipped_weights_match_their_manifest_digest():
    entry = registry.manifest()["deep"]
    assert weights_digest(registry.WEIGHTS / "deep.pt") == entry["sha256"]
    assert entry["config"]["n_layers"] == 8


def test_decoding_without_halting_is_the_model(model):
    ids = _streams()
    out = decode(model, ids)
    with torch.inference_mode():
        full = F.cross_entropy(model(ids[:, :-1]).double().flatten(0, 1), ids[:, 1:].flatten(), reduction="none")
    assert torch.allclose(out.nll, full.view_as(out.nll), atol=1e-5)
    assert (out.layers_run == 8).all() and out.policy_calls == 0


@pytest.mark.parametrize("exit_layer", [1, 3, 6])
def test_a_fixed_exit_is_the_truncated_model(model, exit_layer):
    """Frozen hidden states: exiting before layer k reads out exactly what the first k layers computed."""
    ids = _streams()
    out = decode(model, ids, lambda layer, tokens: [layer >= exit_layer] * len(tokens["stream"]))
    with torch.inference_mode():
        x = model.tok(ids[:, :-1]) + model.pos(torch.arange(ids.shape[1] - 1))
        n = ids.shape[1] - 1
        mask = torch.arange(n)[None, :] > torch.arange(n)[:, None]
        for layer, block in enumerate(model.blocks[:exit_layer]):
            x = block(x, layer, None, mask)
        nll = F.cross_entropy(model.head(model.ln_f(x)).double().flatten(0, 1), ids[:, 1:].flatten(), reduction="none")
    assert torch.allclose(out.nll, nll.view_as(out.nll), atol=1e-5)
    assert (out.layers_run == exit_layer).all()
    assert out.policy_calls == n * exit_layer  # nobody is left to ask after everyone halted


def test_flops_formula_is_the_counters_on_a_real_decode(model):
    """One token at a time through the KV cache, counted by FlopCounterMode: the no-halting total is the formula's."""
    cfg, n = model.cfg, 20
    meter, cache = Meter(memo=False), model.new_cache()
    ids = _streams(n=1, tokens=n)[:, :-1]
    for p in range(n):
        meter.forward("deep", model, ids[:, p:p + 1], cache)
    assert meter.flops("deep") == sum(flops.token_flops(cfg, p, cfg.n_layers) for p in range(n))
    assert all(flops.token_flops(cfg, p, cfg.n_layers) == analytic_forward_flops(cfg, 1, 1, past=p, last_only=True)
               for p in range(n))


def test_flops_formula_is_pinned():
    """d=64, d_ff=256, vocab 96, 8 layers: the integers a GPU run must reproduce too."""
    cfg = registry.load_model("deep").cfg
    assert flops.layer_flops(cfg, 0) == 2 * 64 * 192 + 4 * 64 + 2 * 64 * 64 + 4 * 64 * 256 == 98_560
    assert flops.skipped_layer_flops(cfg) == 16_384 and flops.head_flops(cfg) == 12_288
    assert flops.token_flops(cfg, 127, 8) == 8 * (98_560 + 4 * 64 * 127) + 12_288 == 1_060_864
    assert flops.token_flops(cfg, 127, 3) == 3 * (98_560 + 4 * 64 * 127) + 5 * 16_384 + 12_288 == 487_424
    with pytest.raises(ValueError):
        flops.token_flops(cfg, 0, 9)


def test_flops_depend_only_on_the_decisions_not_the_arithmetic(model):
    """The same decisions in float32 and float64 (as on two devices): identical FLOPs, perplexities that differ."""
    ids = _streams()
    policy = lambda layer, tokens: [layer >= 2 + s % 4 for s in tokens["stream"]]  # noqa: E731
    single = decode(model, ids, policy)
    double = decode(registry.load_model("deep").double(), ids, policy)
    assert torch.equal(single.layers_run, double.layers_run)
    assert flops.total_flops(model.cfg, single.layers_run.tolist()) == flops.total_flops(model.cfg, double.layers_run.tolist())
    assert not torch.equal(single.nll, double.nll) and torch.allclose(single.nll, double.nll, atol=1e-4)


def test_the_policy_sees_nothing_ahead_of_the_current_position(model):
    ids = _streams(n=2, tokens=30)
    changed = ids.clone()
    changed[:, 16:] = (changed[:, 16:] + 7) % 96
    seen = {}
    for name, stream in (("original", ids), ("changed", changed)):
        shown = seen[name] = []
        decode(model, stream, lambda layer, tokens: shown.append((layer, json.dumps(tokens))) or
               [u < 0.5 for u in tokens["update_norm"]])
    first = [s for s in seen["original"] if json.loads(s[1])["position"] < 16]
    assert first == [s for s in seen["changed"] if json.loads(s[1])["position"] < 16]
    assert seen["original"] != seen["changed"]
    assert set(json.loads(seen["original"][0][1])) == {"position", "stream", "update_norm", "relative_update",
                                                       "cosine", "entropy"}


def test_splits_are_disjoint_held_out_text():
    from evaluators.tasks.models import corpus
    train_text, heldout_text = corpus.splits()
    residues = [set(texts.SPLITS[s]["residues"]) for s in ("train", "validation", "heldout")]
    assert all(not a & b for i, a in enumerate(residues) for b in residues[i + 1:])  # no paragraph in two splits
    for split in ("train", "validation", "heldout"):
        long = [p for p in texts.split_text(split).split("\n\n") if len(p) > 300]
        assert long and all(p in heldout_text and p not in train_text for p in long)  # the model never read them
    assert texts.streams("heldout").shape[0] > texts.streams("train").shape[0] >= 40


HOSTILE = {
    "short": "def halt(layer, tokens):\n    return [False]\n",
    "not_bool": "def halt(layer, tokens):\n    return [0.5] * len(tokens['stream'])\n",
    "raises": "def halt(layer, tokens):\n    raise RuntimeError('no')\n",
    "mapping": "def halt(layer, tokens):\n    return {'halt': True}\n",
}


def _evaluate(codes: dict[str, str], split="train", options=FEW):
    async def go():
        runner = LocalExecutor.create("process", workers=1)
        try:
            return {name: await runner.evaluate(TASK, code, split=split, options=options)
                    for name, code in codes.items()}
        finally:
            await runner.close()
    return asyncio.run(go())


@pytest.fixture(scope="module")
def results():
    codes = {name: TASK.baseline_code(name) for name in ("no_halting", "exit_4", "quicksilver", "gateskip")}
    codes["seed"] = TASK.seed_code
    return _evaluate({**codes, **HOSTILE})


def test_baselines_and_seed_run_in_the_sandbox(results):
    for name in ("no_halting", "exit_4", "quicksilver", "gateskip", "seed"):
        assert results[name].status is Status.OK, (name, results[name].artifacts)
    none = results["no_halting"].metrics
    assert none["ppl_increase_pct"] == 0 and none["flops_saved_pct"] == 0 and results["no_halting"].score == 0
    cfg = registry.load_model("deep").cfg
    exit4 = results["exit_4"].metrics
    n = texts.STREAM_TOKENS
    expected = 100 * (1 - sum(flops.token_flops(cfg, p, 4) for p in range(n)) / sum(flops.token_flops(cfg, p, 8) for p in range(n)))
    assert exit4["flops_saved_pct"] == pytest.approx(expected, rel=1e-12) and exit4["mean_layers_run"] == 4
    assert results["exit_4"].score == pytest.approx(scorer.score_of(exit4["ppl_increase_pct"], exit4["flops_saved_pct"]))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_policies_get_a_recorded_failure(results, name):
    res = results[name]
    expected = Status.CRASHED if name == "raises" else Status.INVALID
    assert res.status is expected, (res.status, res.artifacts)
    if expected is Status.INVALID:
        assert "halt(layer=1) at position 0" in res.artifacts["message"]


def test_score_is_flops_saved_within_the_budget_and_falls_past_it():
    assert scorer.score_of(1.9, 30.0) == 30.0
    assert scorer.score_of(scorer.PPL_BUDGET_PCT + 1.0, 30.0) == 30.0 - scorer.OVER_BUDGET_PENALTY


def test_evolve_tasks_names_the_device_torch_would_pick(cli_env):
    """Answered in a fresh interpreter without importing torch; here torch itself says whether CUDA is usable."""
    done = subprocess.run([sys.executable, "-m", "evolve", "tasks", "--json"], env=cli_env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    devices = {t["name"]: t["device"] for t in json.loads(done.stdout)}
    assert devices["token_halting"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert devices["binpack_online"] is None


def test_published_quicksilver_figures_reproduce():
    """task.yaml's measured figures (measure.py, 4 significant digits) come back from a fresh sandboxed run."""
    published = TASK.spec.baselines["quicksilver"].measured["validation"]
    res = _evaluate({"quicksilver": TASK.baseline_code("quicksilver")}, split="validation", options={})["quicksilver"]
    assert res.status is Status.OK, res.artifacts
    got = {**res.metrics, "score": res.score}
    for key, value in published.items():
        assert got[key] == pytest.approx(value, rel=1e-3, abs=1e-3), key


def test_the_static_cuda_check_reads_what_torch_was_built_with():
    from evaluators import devices
    assert devices.torch_cuda_build() == torch.version.cuda
    assert devices.task_device(None) is None and devices.task_device("cpu") == "cpu"
    lines = devices.model_task_devices()
    here = "cuda (auto)" if torch.cuda.is_available() else "cpu (auto: no CUDA GPU visible)"
    assert f"token_halting: model on {here}" in lines and not any(line.startswith("binpack_online") for line in lines)
