"""moe_eplb: workload generator, mapping validation (every kind of invalid mapping), the score
formula, the baselines in-process, and evaluations through the real sandbox with torch in the jail."""
from __future__ import annotations

import asyncio
import textwrap

import numpy as np
import pytest
import torch

from evaluators.api import InvalidOutput
from evaluators.tasks.moe_eplb import workloads as wl
from evaluators.tasks.moe_eplb.scorer import adrs_score, gpu_balancedness, validate
from evaluators.task import load_task
from evaluators.contract import Limits, Status
from evolve.executors import local_executor

TASK = load_task("moe_eplb")
SHAPE = wl.Shape()


def _function(code: str):
    namespace: dict = {"__name__": "candidate"}
    exec(compile(code, "candidate.py", "exec"), namespace)
    return namespace["rebalance_experts"]


HIERARCHICAL = _function(TASK.baseline_code("hierarchical"))
ROUND_ROBIN = _function(TASK.baseline_code("round_robin"))


def _reply(phy2log, log2phy, logcnt, dtypes=("int64", "int64", "int64"), width=None):
    """What the adapter sends, built directly from numpy arrays."""
    return {"phy2log": np.asarray(phy2log), "log2phy": np.asarray(log2phy), "logcnt": np.asarray(logcnt),
            "dtypes": list(dtypes), "log2phy_width": np.asarray(log2phy).shape[-1] if width is None else width}


@pytest.fixture(scope="module")
def mapping():
    weight = torch.from_numpy(wl.workloads("train")[0].windows[0])
    return [t.numpy().copy() for t in HIERARCHICAL(weight, SHAPE.replicas, SHAPE.groups, SHAPE.nodes, SHAPE.gpus)]


# --- workloads ---------------------------------------------------------------------------------
def test_workloads_are_seeded_skewed_and_drifting():
    a, b = wl.generate(101), wl.generate(101)
    assert np.array_equal(a.windows, b.windows)
    assert a.windows.shape == (wl.WINDOWS, wl.LAYERS, wl.EXPERTS)
    assert (a.windows.sum(axis=2) == wl.TOKENS * wl.TOP_K).all()
    peak_to_mean = a.windows[0].max(axis=1) / a.windows[0].mean(axis=1)
    assert peak_to_mean.min() > 2 and peak_to_mean.std() > 0.5  # skewed, and differently per layer
    hottest = a.windows[0].argmax(axis=1)
    assert len(set(hottest.tolist())) > wl.LAYERS // 2  # hot experts differ by layer
    change = np.abs(np.log1p(a.windows[1]) - np.log1p(a.windows[0])).mean()
    assert 0.05 < change < 1.0  # drifts, but window i still predicts window i+1
    seeds = [set(wl.SEEDS[split]) for split in ("train", "validation", "heldout")] + [{wl.WARMUP_SEED}]
    assert sum(len(s) for s in seeds) == len(set().union(*seeds))  # no seed serves two splits
    assert len(wl.SEEDS["validation"]) == len(wl.SEEDS["train"])  # a second draw of train, same size
    assert TASK.spec.validation_split == "validation"
    with pytest.raises(ValueError, match="no split 'bogus'"):
        wl.workloads("bogus")


# --- validation --------------------------------------------------------------------------------
def test_baseline_mappings_are_valid(mapping):
    phy2log, logcnt = validate(_reply(*mapping), SHAPE)
    assert phy2log.shape == (SHAPE.layers, SHAPE.replicas) and logcnt.sum() == SHAPE.layers * SHAPE.replicas
    weight = torch.from_numpy(wl.workloads("train")[0].windows[0])
    validate(_reply(*[t.numpy() for t in ROUND_ROBIN(weight, 288, 8, 4, 32)]), SHAPE)


def _broken(mapping, kind):
    phy2log, log2phy, logcnt = (a.copy() for a in mapping)
    if kind == "shape":
        return _reply(phy2log[:, :-1], log2phy, logcnt)
    if kind == "float":
        return _reply(phy2log.astype(np.float64), log2phy, logcnt)
    if kind == "dtype_claim":
        return _reply(phy2log, log2phy, logcnt, dtypes=("float32", "int64", "int64"))
    if kind == "range":
        phy2log[0, 0] = SHAPE.experts
        return _reply(phy2log, log2phy, logcnt)
    if kind == "zero_replicas":
        # expert e loses its only replica to expert f; both maps and counts stay consistent.
        e = int(np.nonzero(logcnt[0] == 1)[0][0])
        f = int(np.nonzero((logcnt[0] < log2phy.shape[2]) & (np.arange(logcnt.shape[1]) != e))[0][0])
        slot = log2phy[0, e, 0]
        phy2log[0, slot] = f
        logcnt[0, e], logcnt[0, f] = 0, logcnt[0, f] + 1
        log2phy[0, e, :] = -1
        log2phy[0, f, logcnt[0, f] - 1] = slot
        return _reply(phy2log, log2phy, logcnt)
    if kind == "count_sum":
        logcnt[0, 0] += 1
        return _reply(phy2log, log2phy, logcnt)
    if kind == "count_mismatch":
        e = int(np.nonzero(logcnt[0] > 1)[0][0])
        f = int(np.nonzero(logcnt[0] == 1)[0][0])
        logcnt[0, e] -= 1
        logcnt[0, f] += 1
        return _reply(phy2log, log2phy, logcnt)
    if kind == "slot_range":
        log2phy[0, 0, 0] = SHAPE.replicas
        return _reply(phy2log, log2phy, logcnt)
    if kind == "inconsistent":
        log2phy[0, 0, 0], log2phy[0, 1, 0] = log2phy[0, 1, 0], log2phy[0, 0, 0]
        return _reply(phy2log, log2phy, logcnt)
    if kind == "duplicate":
        e = int(np.nonzero(logcnt[0] > 1)[0][0])
        log2phy[0, e, 1] = log2phy[0, e, 0]
        return _reply(phy2log, log2phy, logcnt)
    if kind == "padding":
        e = int(np.nonzero(logcnt[0] < log2phy.shape[2])[0][0])
        log2phy[0, e, -1] = 0
        return _reply(phy2log, log2phy, logcnt)
    if kind == "too_narrow":
        return _reply(phy2log, log2phy[:, :, :1], logcnt)
    if kind == "adapter_error":
        return {"error": "phy2log is a list, not a torch tensor"}
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, needle", [
    ("shape", "phy2log has shape"),
    ("float", "phy2log is not an integer array"),
    ("dtype_claim", "not all integer dtypes"),
    ("range", "expert ids outside"),
    ("zero_replicas", "every expert needs >= 1"),
    ("count_sum", "logcnt sums to"),
    ("count_mismatch", "logcnt disagrees"),
    ("slot_range", "slot ids outside"),
    ("inconsistent", "log2phy and phy2log disagree"),
    ("duplicate", "same slot twice|disagree"),
    ("padding", "other than -1"),
    ("too_narrow", "columns but an expert has"),
    ("adapter_error", "not a torch tensor"),
])
def test_each_invalid_mapping_kind_is_rejected(mapping, kind, needle):
    with pytest.raises(InvalidOutput, match=needle):
        validate(_broken(mapping, kind), SHAPE)


# --- scoring -----------------------------------------------------------------------------------
def test_score_formula():
    assert adrs_score(1.0, 0.0005) == pytest.approx(100.0)
    assert adrs_score(0.8, 0.002) == pytest.approx(77.0)
    assert adrs_score(0.8, 0.010) == pytest.approx(73.0)              # exactly 10 ms: no penalty yet
    assert adrs_score(0.8, 0.020) == pytest.approx(72.0 + 0.5 - 0.4)  # penalty 20 x runtime
    assert adrs_score(0.5, 2.0) == pytest.approx(45.0 + 0.005 - 20.0)  # penalty capped at 20


def test_gpu_balancedness_by_hand():
    # 1 layer, 2 experts, 4 slots on 2 GPUs: expert 0 (load 6) has 3 replicas, expert 1 (load 2) one.
    phy2log = np.array([[0, 0, 0, 1]])
    logcnt = np.array([[3, 1]])
    load = np.array([[6.0, 2.0]])
    # GPU 0 = slots 0, 1 -> 2 + 2 = 4; GPU 1 = slots 2, 3 -> 2 + 2 = 4: perfectly balanced.
    assert gpu_balancedness(phy2log, logcnt, load, gpus=2)[0] == pytest.approx(1.0)
    # The same map under load (0, 8): GPU 0 = 0, GPU 1 = 8 -> mean 4 / max 8.
    assert gpu_balancedness(phy2log, logcnt, np.array([[0.0, 8.0]]), gpus=2)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("experts, replicas, groups, nodes, gpus", [(64, 80, 4, 2, 8), (48, 64, 3, 2, 8)])
def test_hierarchical_baseline_on_other_shapes(experts, replicas, groups, nodes, gpus):
    shape = wl.Shape(layers=5, experts=experts, groups=groups, replicas=replicas, nodes=nodes, gpus=gpus)
    weight = wl.generate(5, windows=1, shape=shape).windows[0]
    out = [t.numpy() for t in HIERARCHICAL(torch.from_numpy(weight), replicas, groups, nodes, gpus)]
    phy2log, logcnt = validate(_reply(*out), shape)
    rr = [t.numpy() for t in ROUND_ROBIN(torch.from_numpy(weight), replicas, groups, nodes, gpus)]
    assert gpu_balancedness(phy2log, logcnt, weight, gpus).mean() > \
        gpu_balancedness(*validate(_reply(*rr), shape), weight, gpus).mean()
    if groups % nodes == 0:  # hierarchical: every group lives on a single node
        node_of_slot = np.arange(replicas) // (replicas // nodes)
        for layer in range(shape.layers):
            group_of_slot = phy2log[layer] // (experts // groups)
            for g in range(groups):
                assert len(set(node_of_slot[group_of_slot == g].tolist())) == 1


# --- through the real sandbox (torch inside the jail) -------------------------------------------
@pytest.fixture(scope="module")
def evaluate():
    loop = asyncio.new_event_loop()
    sandbox = local_executor("process", workers=1)

    def run(code: str, split: str = "train", limits: Limits | None = None):
        return loop.run_until_complete(sandbox.evaluate(TASK, code, limits=limits, split=split))

    yield run
    loop.run_until_complete(sandbox.close())
    loop.close()


@pytest.mark.parametrize("split", ["heldout", "validation"])
@pytest.mark.slow
@pytest.mark.parametrize("name", ["round_robin", "hierarchical"])
def test_baselines_through_sandbox(evaluate, name, split):
    result = evaluate(TASK.baseline_code(name), split=split)
    assert result.status is Status.OK, result.artifacts
    measured = TASK.spec.baselines[name].measured[split]
    assert result.metrics["balancedness"] == pytest.approx(measured["balancedness"], abs=1e-6)
    assert result.metrics["calls"] == 5 * len(wl.SEEDS[split])
    assert result.score == pytest.approx(adrs_score(result.metrics["balancedness"], result.metrics["runtime_s"]))
    assert result.metrics["runtime_s"] >= result.metrics["runtime_in_candidate_s"] > 0


def test_seed_is_deepseeks_hierarchical_algorithm():
    # ADRS starts EPLB from DeepSeek's algorithm; a campaign must start from the strongest baseline.
    assert TASK.spec.reference_baseline == "hierarchical"
    assert TASK.baseline_code("hierarchical") == TASK.seed_code
    assert "EVOLVE-BLOCK-START" in TASK.seed_code


def _candidate(body: str) -> str:
    return "import torch\nimport numpy as np\n\n\ndef rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):\n" \
        + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize("body, status, needle", [
    ("return torch.zeros(3), torch.zeros(3), torch.zeros(3)", Status.INVALID, "expected an integer tensor"),
    ("return np.zeros((58, 288), dtype=np.int64), None, None", Status.INVALID, "not a torch tensor"),
    ("return None", Status.INVALID, "expected (phy2log, log2phy, logcnt)"),
    ("L, E = weight.shape\nz = torch.zeros(L, num_replicas, dtype=torch.int64)\n"
     "return z, torch.arange(num_replicas).expand(L, 1, num_replicas), torch.zeros(L, E, dtype=torch.int64)",
     Status.INVALID, "has shape|every expert needs"),
    ("raise RuntimeError('placement bug')", Status.CRASHED, "placement bug"),
    ("open('/work/main/evaluators/tasks/moe_eplb/workloads.py').read()", Status.CRASHED, "FileNotFoundError"),
])
def test_bad_candidates_get_a_recorded_status(evaluate, body, status, needle):
    result = evaluate(_candidate(body))
    assert result.status is status
    assert any(part in result.artifacts["message"] for part in needle.split("|")), result.artifacts["message"]


def test_runtime_is_measured_on_the_trusted_side(evaluate):
    # Sleeps 30 ms per call and fakes the candidate-side clock: the scorer's runtime still sees it.
    code = TASK.baseline_code("round_robin").replace("import torch", textwrap.dedent("""\
        import time
        import torch
        _real_sleep = time.sleep
        time.perf_counter = lambda: 0.0
        """), 1).replace('    layers, experts = weight.shape', '    _real_sleep(0.03)\n    layers, experts = weight.shape', 1)
    result = evaluate(code)
    assert result.status is Status.OK, result.artifacts
    assert result.metrics["runtime_in_candidate_s"] == 0.0
    assert result.metrics["runtime_s"] >= 0.03
    assert result.metrics["speed_score"] < 0.0  # the >10 ms penalty applies


@pytest.mark.slow
def test_hanging_candidate_times_out(evaluate):
    result = evaluate(_candidate("while True:\n    pass"), limits=TASK.limits.replace(wall_s=5, cpu_s=5))
    assert result.status is Status.TIMEOUT
