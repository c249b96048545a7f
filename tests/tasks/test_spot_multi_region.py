"""spot_multi_region: the simulator against the spec's golden runs (§11) and worked examples (§10),
the published leaderboard figure and every measured baseline figure through the real sandbox,
and what a policy that misbehaves, peeks or fakes its cost gets."""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evaluators.tasks.spot_multi_region import scenarios as sc
from evaluators.tasks.spot_multi_region.scorer import leaderboard_score, report
from evaluators.tasks.spot_multi_region.simulator import Run, simulate
from evaluators.task import load_task
from evaluators.contract import Limits, Status
from evolve.executors import local_executor

TASK = load_task("spot_multi_region")
REPO = Path(__file__).resolve().parents[2]


# --- in-process runs of the real adapter (trusted code only: baselines and spec examples) ----------
def run_local(policy_code: str, runs, seen: list | None = None, inject: dict | None = None):
    spec = importlib.util.spec_from_file_location("multi_region_adapter_under_test", TASK.root / "adapter.py")
    adapter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adapter)
    namespace: dict = {"__name__": "policy", **(inject or {})}
    exec(compile(policy_code, "policy.py", "exec"), namespace)
    fleet = adapter.Fleet(namespace["Policy"], [r.config() for r in runs])

    def decide(tick, live, obs):
        if seen is not None:
            seen.append((tick, {k: v.copy() for k, v in obs.items()}))
        regions, codes, bad = fleet.step(tick, live, obs["region"], obs["has_spot"], obs["spot_all"],
                                         obs["last_cluster_type"], obs["cluster_type"], obs["progress"],
                                         obs["work_done"], obs["remaining_restart_overhead"])
        assert bad is None, bad
        return regions, codes

    return simulate(list(runs), decide)


def timeline(outcome, i: int = 0) -> str:
    """Spec §10 notation: S1 = SPOT in region 1, O0 = ON_DEMAND in region 0, -0 = NONE in region 0."""
    letters = {0: "-", 1: "S", 2: "O"}
    T = int(outcome.finish_tick[i])
    return " ".join(f"{letters[int(a)]}{int(r)}" for a, r in zip(outcome.actions[i, :T], outcome.regions[i, :T]))


def _policy(step_body: str, init_body: str = "pass") -> str:
    return ("class Policy:\n    def __init__(self, config):\n" + textwrap.indent(textwrap.dedent(init_body), " " * 8)
            + "\n\n    def step(self, obs):\n" + textwrap.indent(textwrap.dedent(step_body), " " * 8))


SPOT_OR_WAIT = _policy('return "SPOT" if obs.has_spot else "NONE"')
FOLLOW_SPOT = _policy("""
    if obs.has_spot:
        return "SPOT"
    for i, free in enumerate(obs.spot_all):
        if free:
            return i, "SPOT"
    return "NONE"
""")
# Example C: SPOT in region 0 at t0..t5, then SPOT in region 1 (`move_at` None: never move).
SCRIPT_C = _policy("return (1, 'SPOT') if self.move_at is not None and obs.tick >= self.move_at else 'SPOT'",
                   "self.move_at = MOVE_AT")

GAP = 195.0


def example(c: float, ticks: int, regions: list[tuple[float, list[int], int]], length: int = 40) -> Run:
    """A §10 run: C = c seconds, D = ticks x 195 s, O = 720 s; each region is (P, leading availability
    pattern, value repeated after it), 1 = spot not available."""
    avail = np.array([pattern + [fill] * (length - len(pattern)) for _, pattern, fill in regions], dtype=np.int8)
    return Run("example", avail, np.array([p for p, _, _ in regions]), task_seconds=c, deadline_seconds=ticks * GAP)


NEVER = ([], 1)  # a region whose spot is never available


def cost_of(spot: int, od: int, price: float) -> float:
    return (spot * price + od * 3.06) * 195 / 3600


def test_example_a_baseline_moves_while_idle():
    run = example(900, 15, [(1.5, [1, 1], 0), (0.9, [0] * 5, 1)])
    seen: list = []
    out = run_local(TASK.seed_code, [run], seen)
    assert out.finish_tick[0] == 13
    assert timeline(out) == "-1 S1 S1 S1 S1 " + " ".join(["O1"] * 8)
    assert out.cost[0] == pytest.approx(cost_of(4, 8, 0.9), abs=1e-12) and out.cost[0] == pytest.approx(1.521)
    pending = [float(obs["remaining_restart_overhead"][0]) for _, obs in seen]
    progress = [float(obs["progress"][0]) for _, obs in seen]
    assert pending[2:5] == [525, 330, 135]
    assert progress[1:6] == [0, 0, 0, 0, 60] and progress[6:14] == [0, 0, 0, 60, 195, 195, 195, 195]


def test_example_b_reading_other_regions_and_finishing_price():
    run = example(900, 23, [(1.5, [1] * 4, 0), (0.9, [0] * 4, 1)])
    out = run_local(FOLLOW_SPOT, [run])
    assert out.finish_tick[0] == 12
    assert timeline(out) == " ".join(["S1"] * 4 + ["S0"] * 8)
    # every spot tick billed at region 0's price, where the job finished (not 0.845)
    assert out.cost[0] == pytest.approx(12 * 1.5 * 195 / 3600, abs=1e-12) and out.cost[0] == pytest.approx(0.975)
    assert out.billing_region[0] == 0 and out.launches[0] == 2


@pytest.mark.parametrize("move_at, finish, cost", [(6, 9, 0.43875), (None, 9, 0.73125)])
def test_example_c_moving_a_running_spot_instance_is_free(move_at, finish, cost):
    run = example(900, 23, [(1.5, [], 0), (0.9, [], 0)])
    out = run_local(SCRIPT_C.replace("MOVE_AT", repr(move_at)), [run])
    assert out.finish_tick[0] == finish and out.launches[0] == 1
    assert out.cost[0] == pytest.approx(cost, abs=1e-12)


def test_example_d_guard_replaces_a_starting_spot_by_on_demand():
    run = example(900, 15, [(1.5, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1], 0), (0.9, *NEVER)])
    out = run_local(SPOT_OR_WAIT, [run])
    assert out.finish_tick[0] == 15 and not out.late[0]
    assert timeline(out) == " ".join(["-0"] * 3 + ["S0"] * 3 + ["O0"] * 9)
    assert out.cost[0] == pytest.approx(1.7355, abs=1e-12)
    assert out.overridden[0] == 9  # the guard forced on-demand from t6 on


def test_example_e_keep_spot_clause_and_late_finish():
    run = example(1350, 15, [(1.0, [0] * 7 + [1], 0), (0.9, *NEVER)])
    out = run_local(SPOT_OR_WAIT, [run])
    assert out.finish_tick[0] == 16 and out.late[0]
    assert timeline(out) == " ".join(["S0"] * 7 + ["-0"] + ["O0"] * 8)
    assert out.cost[0] == pytest.approx(1.7051667, abs=1e-7)


def test_switch_at_the_finishing_tick_sets_the_price():
    # §6: the region left current by the call at T bills every spot tick, even one never run there.
    policy = _policy("return (1, 'NONE') if obs.work_done >= obs.task_duration else 'SPOT'")
    out = run_local(policy, [example(900, 23, [(1.5, [], 0), (0.9, [], 0)])])
    assert out.finish_tick[0] == 9 and out.billing_region[0] == 1
    assert out.cost[0] == pytest.approx(9 * 0.9 * 195 / 3600, abs=1e-12)


def test_reading_past_the_trace_fails_the_run():
    from evaluators.tasks.spot_multi_region.simulator import SimulationError
    short = Run("short", np.zeros((2, 10), dtype=np.int8), np.array([1.0, 1.0]), task_seconds=900.0,
                deadline_seconds=23 * GAP)
    with pytest.raises(SimulationError, match="reads past the last sample"):
        run_local(SPOT_OR_WAIT, [short])  # T = 9, so the T + 1 consultation reads sample 10


# Spec §11: every baseline run (group index, k) -> cost, T, spot / on-demand / idle ticks, launches, billing region, P.
GOLDEN = """
1 0 146.8337433333351 956 16 879 61 3 1 1.3148
1 1 147.14417791666844 956 43 868 45 8 1 1.4053
1 2 146.4846066666684 956 22 875 59 3 1 1.2196
1 3 89.04597000000088 958 747 165 46 7 0 1.5248
1 4 116.29380208333475 956 365 536 55 4 1 1.3885
1 5 147.51750000000177 956 0 890 66 1 0 1.751
1 6 147.56872000000178 957 24 877 56 4 0 1.6969
1 7 145.23334583333508 956 55 854 47 7 1 1.2362
2 0 48.656259166666935 927 898 0 29 3 1 1.0003
2 1 46.638420833334166 909 905 0 4 5 0 0.9514
2 2 44.65305000000019 900 898 0 2 3 0 0.918
2 3 44.255250000000174 890 890 0 0 1 0 0.918
2 4 48.952973333332736 901 898 0 3 3 1 1.0064
2 5 83.90265000000055 956 574 334 48 6 0 0.918
2 6 45.80036499999993 895 894 0 1 2 1 0.9458
2 7 137.7216750000016 956 113 797 46 7 0 0.918
3 0 48.83390416666629 916 902 0 14 5 2 0.9995
3 1 45.89617500000025 939 923 0 16 10 1 0.918
3 2 127.98868333333495 956 280 634 42 8 0 1.5101
3 3 44.76979000000064 900 898 0 2 3 2 0.9204
3 4 47.78094750000029 896 894 0 2 2 2 0.9867
3 5 87.64860000000063 956 556 362 38 9 2 0.918
4 0 147.4573695833351 956 19 880 57 5 0 1.5521
4 1 145.69752708333507 959 59 853 47 7 2 1.3495
4 2 146.52886625000176 957 23 875 59 3 2 1.2021
4 3 60.490300000000516 944 912 0 32 7 2 1.2245
4 4 115.40529000000161 958 384 527 47 7 2 1.3488
4 5 147.80203750000177 956 3 890 63 2 0 1.751
5 0 49.03566416666731 901 898 0 3 3 3 1.0081
5 1 69.47821833333221 927 916 0 11 8 1 1.4003
5 2 46.14480000000026 945 928 0 17 12 2 0.918
5 3 44.98280041666718 904 901 0 3 4 3 0.9217
6 0 48.98105875000064 904 897 0 7 3 7 1.0081
6 1 46.999160000000856 921 912 0 9 7 0 0.9514
"""
GOLDEN_MEANS = [135.76523322916827, 62.57258041666704, 67.15301666666717, 127.23023173611266,
                52.410370729166736, 47.99010937500075]


@pytest.fixture(scope="module")
def greedy_leaderboard():
    runs = sc.leaderboard()
    return runs, run_local(TASK.seed_code, runs)


def test_golden_runs_of_the_baseline(greedy_leaderboard):
    runs, out = greedy_leaderboard
    rows = [line.split() for line in GOLDEN.strip().splitlines()]
    assert len(rows) == len(runs) == 34
    for i, (g, k, cost, T, spot, od, idle, launches, region, price) in enumerate(rows):
        assert runs[i].info["group"] == sc.GROUP_NAMES[int(g) - 1] and runs[i].info["k"] == int(k)
        got = (int(out.finish_tick[i]), int(out.spot_ticks[i]), int(out.od_ticks[i]), int(out.idle_ticks[i]),
               int(out.launches[i]), int(out.billing_region[i]))
        assert got == (int(T), int(spot), int(od), int(idle), int(launches), int(region)), runs[i].name
        assert runs[i].prices[int(region)] == float(price)
        assert abs(out.cost[i] - float(cost)) <= 1e-9, runs[i].name


def test_published_leaderboard_figure_bit_for_bit(greedy_leaderboard):
    runs, out = greedy_leaderboard
    rep = report(runs, out)
    assert rep["metrics"]["avg_cost"] == 82.18692369213043
    assert rep["metrics"]["leaderboard_score"] == 64.58
    assert [rep["metrics"][f"cost_{g}"] for g in sc.GROUP_NAMES] == GOLDEN_MEANS
    assert rep["metrics"]["late_runs"] == 0


def test_score_formula():
    assert leaderboard_score(82.18692369213043) == 64.58
    assert leaderboard_score(147.5175) == 0.0 and leaderboard_score(30.0) == 100.0
    assert leaderboard_score(128.39042960069597) == 18.46


def test_splits_are_disjoint_and_documented():
    assert len(sc.PROPOSED_TRAIN_INDICES) == 69 and len(sc.HELDOUT_INDICES) == 13 and len(sc.UNUSED_INDICES) == 10
    every = set(sc.PROPOSED_TRAIN_INDICES) | set(sc.HELDOUT_INDICES) | set(sc.UNUSED_INDICES) | set(range(8))
    assert every == set(range(100))
    assert set(sc.TRAIN_INDICES) | set(sc.VALIDATION_INDICES) == set(sc.PROPOSED_TRAIN_INDICES)
    assert sc.VALIDATION_INDICES == (12, 20, 28, 36, 41, 47, 55, 61, 68, 73, 79, 86, 92, 97)
    groups = [set(sc.TRAIN_INDICES), set(sc.VALIDATION_INDICES), set(sc.HELDOUT_INDICES), set(range(8))]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert not a & b
    assert TASK.spec.validation_split == "validation"
    assert [len(sc.run_set(s)) for s in ("leaderboard", "train", "validation", "heldout", "proposed_train")] \
        == [34, 330, 84, 78, 414]
    assert sc.run_set("train")[0].info["regions"] == ["us-east-1a_v100_1", "us-east-1c_v100_1"]
    with pytest.raises(ValueError, match="no split 'bogus'"):
        sc.run_set("bogus")


def test_shipped_archive_is_the_upstream_file():
    digest = hashlib.sha256((TASK.root / "data" / "multi_region_aligned.tar.gz").read_bytes()).hexdigest()
    assert digest == "f82ec52ddc704339768aa9d08f8ab6e41ba0ca9de576ce063b140da4eef4b5be"
    assert len(sc.traces()) == 900


def test_policy_sees_only_the_current_tick():
    runs = sc.leaderboard()[-2:]  # the two all-9-regions runs
    recorder = _policy("""
        SEEN.append((self.run, obs.tick, obs.region, obs.has_spot, obs.spot_all))
        return "SPOT" if obs.has_spot else ((obs.region + 1) % obs.num_regions, "NONE")
    """, "self.run = len(RUNS)\nRUNS.append(self)")
    seen: list = []
    out = run_local(recorder, runs, inject={"SEEN": seen, "RUNS": []})
    assert len(seen) == int(out.finish_tick.sum()) + 2 * len(runs)  # ticks 0..T and T + 1 of each run
    for run, tick, region, has_spot, spot_all in seen:
        now = tuple(bool(a) for a in runs[run].availability[:, tick] == 0)
        assert spot_all == now and has_spot == now[region]


# --- through the real sandbox (subprocess worker, jailed candidate) ---------------------------------
@pytest.fixture(scope="module")
def evaluate():
    loop = asyncio.new_event_loop()
    sandbox = local_executor("process", workers=1)

    def run(code: str, split: str = "leaderboard", limits: Limits | None = None):
        return loop.run_until_complete(sandbox.evaluate(TASK, code, limits=limits, split=split))

    yield run
    loop.run_until_complete(sandbox.close())
    loop.close()


MEASURED = [(name, split) for name, spec in TASK.spec.baselines.items() for split in spec.measured]


@pytest.mark.slow
@pytest.mark.parametrize("name, split", MEASURED)
def test_measured_baseline_figures(evaluate, name, split):
    expected = TASK.spec.baselines[name].measured[split]
    result = evaluate(TASK.baseline_code(name), split=split)
    assert result.status is Status.OK, result.artifacts
    assert result.metrics["avg_cost"] == pytest.approx(expected["avg_cost"], abs=5e-6)
    assert result.metrics["leaderboard_score"] == expected["leaderboard_score"]


def test_every_baseline_has_its_figures():
    assert set(TASK.spec.baselines) == {"greedy", "never_switch", "od_only"}
    for spec in TASK.spec.baselines.values():
        assert set(spec.measured) == {"leaderboard", "train", "validation", "heldout", "proposed_train"}
    assert TASK.spec.baselines["greedy"].measured["leaderboard"] == {"avg_cost": 82.18692, "leaderboard_score": 64.58}


@pytest.mark.slow
def test_leaderboard_figure_through_the_cli():
    """The issue's acceptance path."""
    out = subprocess.run([sys.executable, "-m", "evolve", "eval", "spot_multi_region", "--baseline", "greedy",
                          "--split", "leaderboard", "--json"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads(out.stdout)["metrics"]
    assert metrics["avg_cost"] == 82.18692369213043 and metrics["leaderboard_score"] == 64.58


GREEDY_BODY = TASK.seed_code.split("    def step(self, obs):\n", 1)[1].split("# EVOLVE-BLOCK-END")[0]


def _greedy_with(prefix: str) -> str:
    """The seed policy with `prefix` run first in every step (it must not return)."""
    head = TASK.seed_code.split("# EVOLVE-BLOCK-START")[0]
    return head + _policy(textwrap.dedent(prefix) + "\n" + textwrap.dedent(GREEDY_BODY))


@pytest.mark.parametrize("prefix", [
    # Read the traces: they are not inside the jail, so the policy learns nothing and scores as greedy.
    """
    if not hasattr(self, "peek"):
        self.peek = None
        for path in ("/work/main/evaluators/tasks/spot_multi_region/data/multi_region_aligned.tar.gz",
                     "evaluators/tasks/spot_multi_region/data/multi_region_aligned.tar.gz"):
            try:
                self.peek = open(path, "rb").read()
            except OSError:
                pass
        if self.peek is not None:
            raise RuntimeError("the traces were readable")
    """,
    # Fake its cost: print result-like lines, pad its progress log, set cost-like names it can reach.
    """
    global avg_cost, score
    avg_cost, score = 0.0, 100.0
    print('{"score": 100, "metrics": {"avg_cost": 0.0}}')
    print("mean: 0.0")
    obs.task_done_time.append(1e9)
    self.cost = 0.0
    """,
])
@pytest.mark.slow
def test_peeking_or_faking_gains_nothing(evaluate, prefix):
    honest = evaluate(TASK.seed_code)
    cheat = evaluate(_greedy_with(prefix))
    assert cheat.status is Status.OK, cheat.artifacts.get("message")
    assert cheat.metrics == honest.metrics and cheat.score == honest.score


def test_claiming_the_work_is_done_gains_nothing(evaluate):
    # Overwriting what it observes changes only what the policy believes: it idles, the guard forces
    # on-demand, and the scorer bills every tick it really took.
    cheat = evaluate(_greedy_with("obs.work_done = obs.task_duration"))
    assert cheat.status is Status.OK
    assert cheat.metrics["avg_cost"] > 140 and cheat.metrics["guard_overrides"] > 800


@pytest.mark.slow
def test_tampering_with_the_adapter_gains_nothing(evaluate):
    # Replace the Fleet's step to answer "SPOT in region 0" for every run whatever the availability:
    # the scorer still applies availability and the guard, so this is just an honest "always SPOT" policy.
    tamper = """
import gc
class Policy:
    def __init__(self, config):
        for obj in gc.get_objects():
            if type(obj).__name__ == "Fleet":
                import numpy as np
                def step(*args):
                    n = len(args[1])
                    return [np.zeros(n, dtype=np.int16), np.ones(n, dtype=np.int8), None]
                obj.step = step
    def step(self, obs):
        return "SPOT"
"""
    result = evaluate(tamper)
    always_spot = evaluate(_policy('return "SPOT"'))
    assert result.status is Status.OK and always_spot.status is Status.OK
    assert result.metrics["avg_cost"] == always_spot.metrics["avg_cost"]
    assert result.metrics["avg_cost"] > 82.19  # worse than the baseline: nothing gained


@pytest.mark.parametrize("body, status, needle", [
    ('return "spot"', Status.INVALID, "step returned 'spot'"),
    ("return (obs.num_regions, 'SPOT')", Status.INVALID, "step returned (2, 'SPOT')"),
    ("return (True, 'SPOT')", Status.INVALID, "step returned (True, 'SPOT')"),
    ("return ('SPOT', 0)", Status.INVALID, "step returned ('SPOT', 0)"),
    ('return "SPOT" if obs.tick < 50 else None', Status.INVALID, "tick 50: step returned None"),
    ('raise ValueError("policy bug")', Status.CRASHED, "policy bug"),
    ("return obs.next_spot_all", Status.CRASHED, "AttributeError"),
])
def test_bad_policies_get_a_recorded_status(evaluate, body, status, needle):
    result = evaluate(_policy(body))
    assert result.status is status
    assert needle in result.artifacts["message"]


def test_exception_at_the_extra_consultation_fails_the_run(evaluate):
    # §5.9: upstream consults the policy once more at T + 1; an exception there fails the evaluation.
    body = """
    if obs.work_done >= obs.task_duration and getattr(self, "finished", False):
        raise RuntimeError("after the end")
    if obs.work_done >= obs.task_duration:
        self.finished = True
    return "ON_DEMAND"
    """
    result = evaluate(_policy(body))
    assert result.status is Status.CRASHED and "after the end" in result.artifacts["message"]


def test_hanging_policy_times_out(evaluate):
    result = evaluate(_policy("while True:\n    pass"), limits=TASK.limits.replace(wall_s=2, cpu_s=2))
    assert result.status is Status.TIMEOUT


@pytest.mark.slow
def test_observation_fields_are_the_spec_list(evaluate):
    body = """
    allowed = {"tick", "elapsed_seconds", "gap_seconds", "num_regions", "region", "has_spot", "spot_all",
               "last_cluster_type", "cluster_type", "work_done", "task_done_time", "task_duration", "deadline",
               "restart_overhead", "remaining_restart_overhead"}
    fields = {k for k in dir(obs) if not k.startswith("_")}
    if fields != allowed:
        raise RuntimeError(f"unexpected fields {sorted(fields ^ allowed)}")
    if len(obs.spot_all) != obs.num_regions or obs.has_spot is not obs.spot_all[obs.region]:
        raise RuntimeError("spot_all does not describe the current tick's regions")
    if obs.elapsed_seconds != obs.tick * 195 or sum(obs.task_done_time) != obs.work_done:
        raise RuntimeError("time or progress log inconsistent")
    return "SPOT" if obs.has_spot else "NONE"
    """
    result = evaluate(_policy(body))
    assert result.status is Status.OK, result.artifacts.get("message")
