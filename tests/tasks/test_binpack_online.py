"""binpack_online packs exactly as FunSearch's loop does, bin for bin.

The reference below is a plain FunSearch-style loop run in this process on trusted heuristics;
the scorer side runs the same heuristics in a real jailed candidate process, through the task's
adapter and compact message. The heuristics depend on a bin's position in the array, and some
pick a non-first empty bin and leave gaps, which is where a reordered message would differ.
"""
import json
import shutil
import subprocess

import numpy as np
import pytest
import yaml

from core_support import evolve_cmd
from evaluators.api import InvalidOutput
from evaluators.tasks.binpack_online import scorer
from evaluators.tasks.binpack_online.instances import datasets, weibull_like
from evaluators.task import load_task
from sandbox.candidate import Candidate
from sandbox.jail import Zygote

TASK = load_task("binpack_online")


def funsearch_pack(priority, items, capacity):
    """FunSearch's loop, written out: one bin per item, argmax over the bins the item fits."""
    bins = np.array([capacity for _ in range(len(items))])
    assignment = []
    for item in items:
        valid = np.nonzero((bins - item) >= 0)[0]
        best = valid[np.argmax(priority(item, bins[valid]))]
        bins[best] -= item
        assignment.append(int(best))
    return bins, np.array(assignment)


HEURISTICS = {
    "best_fit": """
import numpy as np
def priority(item, bins):
    return -(bins - item)
""",
    # ties between bins (every empty bin, equal remainders) go to the highest index:
    # the first item opens the last bin, and every used bin sits above empty ones
    "best_fit_latest": """
import numpy as np
def priority(item, bins):
    return -(bins - item) + 0.5 * np.arange(len(bins)) / len(bins)
""",
    # best fit among used bins; when none fits, an empty bin chosen by the item's size,
    # usually not the first one: the used bins end up scattered, with gaps between them
    "scattered_empty": """
import numpy as np
def priority(item, bins):
    scores = -(bins - item).astype(float)
    empty = np.flatnonzero(bins == bins.max())
    scores[empty] -= 1000.0
    scores[empty[(7 * int(item)) % len(empty)]] += 0.5
    return scores
""",
    # each score depends on its left neighbour in the array
    "neighbour_difference": """
import numpy as np
def priority(item, bins):
    scores = -(bins - item).astype(float) / item
    scores[1:] -= 0.6 * scores[:-1]
    return scores
""",
    # prefers the earliest bin it fits into unless a bin is nearly full (position-weighted first fit)
    "early_unless_snug": """
import numpy as np
def priority(item, bins):
    slack = bins - item
    return np.where(slack <= 5, 10.0, 0.0) - np.arange(len(bins)) * 1e-3
""",
}


def _reference_module(code):
    namespace = {}
    exec(compile(code, "reference.py", "exec"), namespace)
    return namespace["priority"]


def _instances():
    rng = np.random.default_rng(7)
    small = {f"weibull_small_{i}": weibull_like(rng, n_items=120) for i in range(3)}
    or3 = datasets("or3")["or3"]
    return {**small, **{name: or3[name] for name in ("u500_00", "u500_07", "u500_19")}}


@pytest.fixture(scope="module")
def zygote():
    zygote = Zygote(packages=TASK.spec.jail_packages)
    yield zygote
    zygote.close()


def _pack_in_sandbox(zygote, code, instances):
    candidate = Candidate(zygote, code, TASK.entry_point, TASK.limits, adapter=TASK.adapter_code)
    try:
        return scorer.pack_all(candidate, instances)
    finally:
        candidate.close()


@pytest.mark.parametrize("name", sorted(HEURISTICS))
def test_packings_match_funsearch_bin_for_bin(zygote, name):
    instances = _instances()
    packed = _pack_in_sandbox(zygote, HEURISTICS[name], instances)
    priority = _reference_module(HEURISTICS[name])
    for instance_name, instance in instances.items():
        bins, assignment = funsearch_pack(priority, instance["items"].tolist(), instance["capacity"])
        got = packed[instance_name]
        assert np.array_equal(got.assignment, assignment), f"{name} on {instance_name}: items went elsewhere"
        assert np.array_equal(got.bins, bins)
        assert got.verify() == int((bins != instance["capacity"]).sum())


def _has_gaps(bins, capacity):
    used = np.flatnonzero(bins != capacity)
    return len(used) and used[-1] + 1 > len(used)


def test_the_position_dependent_heuristics_do_leave_gaps(zygote):
    """Guards the test above: these heuristics exercise empties standing below used bins."""
    instances = _instances()
    for name in ("best_fit_latest", "scattered_empty"):
        packed = _pack_in_sandbox(zygote, HEURISTICS[name], instances)
        assert all(_has_gaps(p.bins, p.capacity) for p in packed.values()), name
    latest = _pack_in_sandbox(zygote, HEURISTICS["best_fit_latest"], instances)
    assert all(p.assignment[0] == len(p.items) - 1 for p in latest.values())


@pytest.mark.slow
def test_a_full_weibull_5k_instance_with_gaps_matches(zygote):
    instance = datasets("weibull_5k")["weibull_5k"]["test_0"]
    code = HEURISTICS["scattered_empty"]
    got = _pack_in_sandbox(zygote, code, {"test_0": instance})["test_0"]
    bins, assignment = funsearch_pack(_reference_module(code), instance["items"].tolist(), instance["capacity"])
    assert np.array_equal(got.assignment, assignment) and np.array_equal(got.bins, bins)
    assert _has_gaps(got.bins, 100)


def test_used_runs():
    assert scorer.used_runs(np.array([], dtype=bool)).tolist() == []
    assert scorer.used_runs(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)).tolist() == [0, 2, 3, 4, 6, 7]


def test_an_out_of_range_choice_is_invalid_not_a_crash(zygote):
    """A tampered answer (the adapter is candidate-side code) is caught by the scorer."""
    code = "import numpy as np\ndef priority(item, bins):\n    return np.zeros(len(bins))\n"
    tampered = TASK.adapter_code + "\ndef choose_bin(*args):\n    return 10**6\n"
    candidate = Candidate(zygote, code, TASK.entry_point, TASK.limits, adapter=tampered)
    try:
        with pytest.raises(InvalidOutput, match="is not an index below"):
            scorer.pack_all(candidate, {"x": datasets("or3")["or3"]["u500_00"]})
    finally:
        candidate.close()


def _eval(args, env, timeout=600):
    result = subprocess.run(evolve_cmd("eval", *args, "--json"), capture_output=True, text=True, env=env,
                            timeout=timeout)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


MEASURED = [(baseline, split) for baseline, spec in TASK.spec.baselines.items() for split in spec.measured]


def test_the_published_best_fit_figures_are_recorded_for_every_held_out_split():
    measured = TASK.spec.baselines["best_fit"].measured
    assert measured["heldout"] == {**measured["or3"], **measured["weibull_5k"]}
    assert (measured["or3"]["or3_mean_bins"], measured["or3"]["or3_excess_pct"]) == (212.0, 5.37)
    assert (measured["weibull_5k"]["weibull_5k_mean_bins"], measured["weibull_5k"]["weibull_5k_excess_pct"]) \
        == (2067.0, 3.98)


def test_validation_is_a_second_draw_of_train_disjoint_from_every_other_split():
    assert TASK.spec.validation_split == "validation"
    train, validation = datasets("train"), datasets("validation")
    assert {f: len(v) for f, v in validation.items()} == {f: len(v) for f, v in train.items()}
    for family in train:
        assert [len(i["items"]) for i in validation[family].values()] == [len(i["items"]) for i in train[family].values()]
    owner = {}
    for split in ("train", "validation", "heldout", "stage", "probe"):
        for instances in datasets(split).values():
            for name, instance in instances.items():
                key = (instance["capacity"], instance["items"].tobytes())
                assert key not in owner, f"{split}/{name} repeats {owner[key]}"
                owner[key] = f"{split}/{name}"


@pytest.mark.slow
@pytest.mark.parametrize("baseline, split", MEASURED)
def test_recorded_baseline_figures_are_reproduced(cli_env, baseline, split):
    data = _eval(["binpack_online", "--baseline", baseline, "--split", split], cli_env)
    assert data["status"] == "ok"
    for metric, value in TASK.spec.baselines[baseline].measured[split].items():
        assert round(data["metrics"][metric], 2) == value, metric


# Best fit written as a pure-Python loop over the bins: valid, and slow.
SLOW_BEST_FIT = """
import numpy as np

def priority(item, bins):
    scores = []
    for remaining in bins.tolist():
        gap = remaining - item
        scores.append(-sum(gap for _ in range(48)))
    return np.array(scores)
"""


@pytest.fixture
def tight_task(tmp_path):
    """binpack_online as a user task directory whose own limits are 1 s wall, 1 s CPU."""
    directory = tmp_path / "binpack_tight"
    shutil.copytree(TASK.root, directory, ignore=shutil.ignore_patterns("__pycache__"))
    spec = yaml.safe_load((directory / "task.yaml").read_text())
    spec["limits"] = {"wall_s": 1, "cpu_s": 1, "memory_mb": 1024}
    (directory / "task.yaml").write_text(yaml.safe_dump(spec))
    program = tmp_path / "slow.py"
    program.write_text(SLOW_BEST_FIT)
    return str(directory), str(program)


@pytest.mark.slow
def test_limit_flags_make_a_slow_valid_program_measurable(cli_env, tight_task):
    directory, program = tight_task
    default = _eval(["--task-dir", directory, program, "--split", "or3"], cli_env)
    assert default["status"] == "timeout" and "1 s wall-clock" in default["artifacts"]["message"]
    only_wall = _eval(["--task-dir", directory, program, "--split", "or3", "--wall-s", "900"], cli_env)
    assert only_wall["status"] == "timeout" and "1 s CPU-time" in only_wall["artifacts"]["message"]
    measured = _eval(["--task-dir", directory, program, "--split", "or3", "--wall-s", "900", "--cpu-s", "900"],
                     cli_env, timeout=1200)
    assert measured["status"] == "ok", measured["artifacts"]
    assert measured["metrics"]["or3_mean_bins"] == 212.0  # it ranks bins exactly as best fit does
    assert (measured["limits"]["wall_s"], measured["limits"]["cpu_s"]) == (900, 900)


@pytest.mark.slow
def test_memory_flag_overrides_the_task_limit(cli_env, tmp_path):
    program = tmp_path / "ballast.py"
    program.write_text("import numpy as np\n_ballast = np.ones(300 * 2**20 // 8)\n\n"
                       "def priority(item, bins):\n    return -(bins - item)\n")
    roomy = _eval(["binpack_online", str(program), "--split", "or3"], cli_env)
    assert roomy["status"] == "ok" and roomy["limits"]["memory_mb"] == 1024
    tight = _eval(["binpack_online", str(program), "--split", "or3", "--memory-mb", "256"], cli_env)
    assert tight["status"] == "oom" and tight["limits"]["memory_mb"] == 256
