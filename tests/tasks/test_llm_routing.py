"""llm_routing: the time model against the shipped measurements, the simulator against closed-form
queueing answers and hand-computed batching timelines, its invariants (conservation, Little's
law, determinism), and the baselines and misbehaving routers through the real sandbox."""
from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evaluators.tasks.llm_routing import scenarios as sc
from evaluators.tasks.llm_routing.metrics import report, ttft_target
from evaluators.tasks.llm_routing.perf_model import a100_tp4, h100_tp2, kv_capacity
from evaluators.tasks.llm_routing.replica import SimulationError
from evaluators.tasks.llm_routing.simulator import Outcome, Scenario, _check, simulate
from evaluators.task import load_task
from evaluators.contract import Limits, Status
from evolve.executors import local_executor

TASK = load_task("llm_routing")
BASELINES = ("round_robin", "random", "join_shortest_queue", "least_outstanding_tokens", "power_of_two")


# --- in-process runs of the real adapter (trusted code only: baselines and hand routers) -----------
def _adapter():
    spec = importlib.util.spec_from_file_location("llm_routing_adapter_under_test", TASK.root / "adapter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_local(router_code: str, scenarios) -> list[Outcome]:
    adapter = _adapter()
    namespace: dict = {"__name__": "router"}
    exec(compile(router_code, "router.py", "exec"), namespace)
    router = namespace["Router"]
    adapter.start(router, [s.config() for s in scenarios])

    def decide(k, active, now, prompt, obs):
        picks, bad = adapter.step(router, k, active, now, prompt, obs["queued"], obs["running"],
                                  obs["tokens_in_flight"], obs["kv_used"], obs["recent_ttft"], obs["generated"])
        assert bad is None, bad
        return picks

    return simulate(list(scenarios), decide)


ALWAYS_ZERO = "class Router:\n    def __init__(self, fleet):\n        pass\n    def route(self, request, state):\n        return 0\n"


def _fixed_type(service_s: float, max_batch: int = 1):
    """A replica whose prefill always takes service_s and whose decode iterations take service_s too."""
    h = h100_tp2()
    return dataclasses.replace(h, name="fixed", prefill_tokens=(1.0, 1e6), prefill_seconds=(service_s, service_s),
                               decode_batch=(1.0, 64.0), decode_seconds=(service_s, service_s),
                               kv_capacity=10**9, max_batch=max_batch)


def _scenario(arrival, prompt, output, fleet, name="hand") -> Scenario:
    return Scenario(name=name, arrival=np.asarray(arrival, dtype=np.float64), prompt=np.asarray(prompt, dtype=np.int64),
                    output=np.asarray(output, dtype=np.int64), fleet=tuple(fleet), service="conv",
                    info={"load": 0.5})


# --- the time model -------------------------------------------------------------------------------
def test_time_model_is_the_median_of_the_shipped_measurements():
    h, a = h100_tp2(), a100_tp4()
    # medians of the five repetitions (ms) in data/splitwise_perf_llama2_70b.csv
    assert h.prefill_time(8192) == pytest.approx(np.median([1340.2638, 1337.2004, 1339.8417, 1343.0464, 1335.4288,
                                                            1184.4684, 1191.9787, 1189.7840, 1194.5000, 1197.1825]) / 1000,
                                                 abs=1e-6)
    assert h.prefill_time(128) == pytest.approx(0.04833136, abs=1e-7)
    assert h.decode_table[1] == pytest.approx(0.03700, abs=1e-5)
    assert h.decode_table[32] == pytest.approx(0.05229606, abs=1e-7)
    assert a.decode_table[64] == pytest.approx(0.07294684, abs=1e-7)
    assert a.prefill_time(768) == pytest.approx((a.prefill_time(512) + a.prefill_time(1024)) / 2)
    # the H100 TP2 batch-64 rows (prompt time below batch 32's) are excluded: no batch beyond 32
    assert h.max_batch == 32 and a.max_batch == 64
    assert h.kv_capacity == kv_capacity(2) == 18310 and a.kv_capacity == kv_capacity(4) == 457763
    assert all(x < y for x, y in zip(h.prefill_seconds, h.prefill_seconds[1:]))


# --- the simulator against closed-form answers ------------------------------------------------------
def test_single_replica_fixed_service_deterministic_queue_is_exact():
    """D/D/1 with arrivals every a < S: request k waits k (S - a); with a > S nobody waits."""
    service, gap, n = 0.5, 0.3, 50
    out = run_local(ALWAYS_ZERO, [_scenario(np.arange(n) * gap, [100] * n, [1] * n, [_fixed_type(service)])])[0]
    k = np.arange(n)
    assert np.allclose(out.first_token - k * gap, service + k * (service - gap))
    out = run_local(ALWAYS_ZERO, [_scenario(np.arange(n) * 0.7, [100] * n, [1] * n, [_fixed_type(service)])])[0]
    assert np.allclose(out.finish - np.arange(n) * 0.7, service)


@pytest.mark.slow
def test_single_replica_poisson_arrivals_match_pollaczek_khinchine():
    """M/D/1: mean wait in queue = rho S / (2 (1 - rho)) (Pollaczek-Khinchine)."""
    service, rho, n = 0.2, 0.7, 40000
    rng = np.random.default_rng(7)
    arrival = np.cumsum(rng.exponential(service / rho, n))
    out = run_local(ALWAYS_ZERO, [_scenario(arrival, [100] * n, [1] * n, [_fixed_type(service)])])[0]
    wait = out.first_token - arrival - service
    assert wait.min() >= -1e-9
    expected = rho * service / (2 * (1 - rho))
    assert float(wait[n // 10:].mean()) == pytest.approx(expected, rel=0.05)


def test_continuous_batching_timeline_by_hand():
    """r0 (out 3) at 0; r1 (out 2) arrives during r0's prefill; r2 (out 2) arrives mid-decode."""
    h = h100_tp2()
    p, d1, d2 = h.prefill_time(512), h.decode_table[1], h.decode_table[2]
    t2 = 2 * p + d2 + 0.5 * d1   # r1 done after one 2-batch decode; r2 lands inside r0's last decode
    out = run_local(ALWAYS_ZERO, [_scenario([0.0, 0.01, t2], [512, 512, 512], [3, 2, 2], [h])])[0]
    assert out.first_token[0] == pytest.approx(p)
    assert out.first_token[1] == pytest.approx(2 * p)          # prefilled at the next boundary
    assert out.finish[1] == pytest.approx(2 * p + d2)
    assert out.finish[0] == pytest.approx(2 * p + d2 + d1)     # the decode that was running when r2 came
    assert out.first_token[2] == pytest.approx(2 * p + d2 + d1 + p)
    assert out.finish[2] == pytest.approx(2 * p + d2 + d1 + p + d1)


def test_kv_reservation_queues_a_request_that_does_not_fit():
    h = h100_tp2()
    prompt0 = 16000
    output0 = h.kv_capacity - 1000 - prompt0   # r0's reservation leaves 1000 tokens; r1 needs 1100
    out = run_local(ALWAYS_ZERO, [_scenario([0.0, 0.0], [prompt0, 900], [output0, 200], [h])])[0]
    assert out.first_token[1] >= out.finish[0] - 1e-12   # r1 waited for r0 to release its KV


# --- invariants on every run ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_outcomes():
    scen = sc.scenario_set("train")
    return scen, {name: run_local(TASK.baseline_code(name), scen) for name in BASELINES}


@pytest.mark.slow
def test_conservation_and_littles_law_on_every_baseline(train_outcomes):
    scen, runs = train_outcomes
    for name, outs in runs.items():
        for s, o in zip(scen, outs):
            routed = np.bincount(o.replica, minlength=len(s.fleet))
            assert np.array_equal(o.served, routed), name                      # each request finished once, where sent
            assert np.array_equal(o.generated, np.bincount(o.replica, weights=s.output,
                                                           minlength=len(s.fleet)).astype(np.int64)), name
            assert (o.first_token >= s.arrival).all() and (o.finish >= o.first_token).all()
            horizon = o.end
            mean_in_system = o.area.sum() / horizon
            arrival_rate, mean_sojourn = s.size / horizon, float(np.mean(o.finish - s.arrival))
            assert mean_in_system == pytest.approx(arrival_rate * mean_sojourn, rel=1e-9), (name, s.name)


def test_a_broken_invariant_is_caught():
    scen = [_scenario([0.0, 0.1], [512, 512], [4, 4], [h100_tp2()])]
    out = run_local(ALWAYS_ZERO, scen)[0]
    out.area[0] += 1.0
    with pytest.raises(SimulationError, match="Little's law"):
        _check(scen[0], out)
    out.area[0] -= 1.0
    out.generated[0] -= 1
    with pytest.raises(SimulationError, match="generated"):
        _check(scen[0], out)


def test_deterministic_under_a_seed(train_outcomes):
    scen, runs = train_outcomes
    again = run_local(TASK.baseline_code("random"), scen)
    for a, b in zip(runs["random"], again):
        assert np.array_equal(a.replica, b.replica) and np.array_equal(a.finish, b.finish)
    assert report(scen, again) == report(scen, runs["random"])
    # a different seed routes differently
    reseeded = [dataclasses.replace(s, seed=s.seed + 1) for s in scen]
    other = run_local(TASK.baseline_code("random"), reseeded)
    assert not np.array_equal(other[0].replica, runs["random"][0].replica)


def test_splits_and_slo_targets():
    train, validation, heldout, shift = (sc.scenario_set(s) for s in ("train", "validation", "heldout", "shift"))
    assert len(train) == len(validation) == len(heldout) == len(shift) == 12
    assert {s.service for s in train + validation} == {"conv"} and {s.service for s in heldout + shift} == {"code"}
    assert {s.info["load"] for s in train + validation + shift} == set(sc.LOADS)
    assert {s.info["load"] for s in heldout} == set(sc.HELDOUT_LOADS)
    assert TASK.spec.validation_split == "validation"
    rows = {}  # no trace row serves two splits
    for split, scenarios in (("train", train), ("validation", validation), ("heldout", heldout), ("shift", shift)):
        for w in {s.info["window"] for s in scenarios}:
            first = sc.windows(scenarios[0].service)[w][3]
            for row in range(first, first + 400):
                assert rows.setdefault((scenarios[0].service, row), split) == split, (split, row)
    for s in train + validation + heldout + shift:   # every request fits on every replica type
        assert (s.prompt + s.output <= min(r.kv_capacity for r in s.fleet)).all()
        assert "output" not in str(s.config())
    rate = [s.size / s.arrival[-1] for s in train[:3]]
    assert rate[0] < rate[1] < rate[2]
    assert ttft_target("conv", np.array([512]))[0] == pytest.approx(1.0 + 2 * a100_tp4().prefill_time(512))


# --- through the real sandbox (subprocess worker, jailed candidate) -------------------------------
@pytest.fixture(scope="module")
def evaluate():
    loop = asyncio.new_event_loop()
    sandbox = local_executor("process", workers=1)

    def run(code: str, split: str = "train", limits: Limits | None = None):
        return loop.run_until_complete(sandbox.evaluate(TASK, code, limits=limits, split=split))

    yield run
    loop.run_until_complete(sandbox.close())
    loop.close()


@pytest.mark.parametrize("name", [*BASELINES, "seed"])
def test_baseline_figures_in_task_yaml_are_reproduced(evaluate, name):
    measured = TASK.spec.baselines[name].measured
    assert set(measured) == {"train", "validation", "heldout", "shift"}
    for split, figures in measured.items():
        result = evaluate(TASK.baseline_code(name), split=split)
        assert result.status is Status.OK, result.artifacts
        for key, value in figures.items():
            assert result.metrics[key] == pytest.approx(value, abs=5e-3), (split, key)


def test_sandbox_matches_in_process_run(evaluate, train_outcomes):
    scen, runs = train_outcomes
    result = evaluate(TASK.baseline_code("least_outstanding_tokens"))
    local = report(scen, runs["least_outstanding_tokens"])
    assert result.score == pytest.approx(local["score"], abs=1e-12)
    assert result.metrics["ttft_p99"] == pytest.approx(local["metrics"]["ttft_p99"], abs=1e-12)


def _router(body: str) -> str:
    return "import numpy as np\n\nclass Router:\n    def __init__(self, fleet):\n        self.fleet = fleet\n\n" \
           "    def route(self, request, state):\n" + textwrap.indent(textwrap.dedent(body), " " * 8)


@pytest.mark.parametrize("body, status, needle", [
    ("return 4", Status.INVALID, "route returned 4"),
    ("return -1", Status.INVALID, "route returned -1"),
    ("return True", Status.INVALID, "route returned True"),
    ("return 1.0", Status.INVALID, "route returned 1.0"),
    ('return "0"', Status.INVALID, "route returned '0'"),
    ("return 0 if request.index < 7 else None", Status.INVALID, "request 7: route returned None"),
    ('raise ValueError("router bug")', Status.CRASHED, "router bug"),
    ("return request.output_tokens", Status.CRASHED, "AttributeError"),
    ('open("/work/main/evaluators/tasks/llm_routing/data/azure_conv_windows.csv")', Status.CRASHED, "Error"),
])
def test_bad_routers_get_a_recorded_status(evaluate, body, status, needle):
    result = evaluate(_router(body))
    assert result.status is status
    assert needle in result.artifacts["message"]


def test_numpy_integers_are_accepted_and_the_router_sees_only_allowed_fields(evaluate):
    body = """
    allowed = {"queued", "running", "tokens_in_flight", "kv_used", "recent_ttft", "generated", "kv_capacity", "max_batch"}
    fields = {k for k in dir(state) if not k.startswith("_")}
    if fields != allowed or {k for k in dir(request) if not k.startswith("_")} != {"index", "now", "prompt_tokens"}:
        raise RuntimeError(f"unexpected fields {sorted(fields ^ allowed)}")
    return np.argmin(state.tokens_in_flight)
    """
    result = evaluate(_router(body))
    assert result.status is Status.OK, result.artifacts.get("message")


def test_hanging_router_times_out(evaluate):
    result = evaluate(_router("while True:\n    pass"), limits=TASK.limits.replace(wall_s=2, cpu_s=2))
    assert result.status is Status.TIMEOUT


@pytest.mark.slow
def test_heldout_baseline_through_the_cli():
    """The README's path: `evolve eval llm_routing --baseline round_robin --split heldout --json`."""
    out = subprocess.run([sys.executable, "-m", "evolve", "eval", "llm_routing", "--baseline", "round_robin",
                          "--split", "heldout", "--json"], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)["metrics"]
    assert figures["slo_attainment"] == pytest.approx(TASK.spec.baselines["round_robin"].measured["heldout"]["slo_attainment"],
                                                      abs=5e-3)
    assert figures["requests"] == 4800 and figures["scenarios"] == 12
