"""The front's part of the task contract: objectives and the hypervolume's reference point in task.yaml."""
from __future__ import annotations

import pytest
import yaml

from evaluators.task import TaskError, load_builtin, load_task_dir

BASE = {"name": "t", "description": "d", "entry_point": "f", "score": "s", "splits": {"train": "x"},
        "metrics": {"accuracy": {"direction": "maximize"}, "flops": {"direction": "minimize"}}}


def _load(tmp_path, **extra):
    (tmp_path / "task.yaml").write_text(yaml.safe_dump({**BASE, **extra}))
    return load_task_dir(tmp_path)


def test_builtin_decoding_tasks_declare_a_two_objective_front():
    for name, metrics in [("tts_search", ["accuracy", "flops_per_problem"]),
                          ("spec_decoding", ["speedup", "flops_per_token"])]:
        spec = load_builtin(name).spec
        assert [o.metric for o in spec.objectives] == metrics
        assert set(spec.front_reference) == set(metrics)


def test_objectives_are_optional(tmp_path):
    assert _load(tmp_path).spec.objectives == []


def test_a_valid_front(tmp_path):
    spec = _load(tmp_path, objectives=[{"metric": "accuracy", "direction": "maximize"},
                                       {"metric": "flops", "direction": "minimize", "scale": "log10"}],
                 front_reference={"accuracy": 0, "flops": 1e9}).spec
    assert [o.scale for o in spec.objectives] == ["linear", "log10"]


@pytest.mark.parametrize("extra, message", [
    ({"objectives": [{"metric": "accuracy", "direction": "maximize"}], "front_reference": {"accuracy": 0}},
     "a front needs two or more objectives"),
    ({"objectives": [{"metric": "accuracy", "direction": "maximize"}, {"metric": "cost", "direction": "minimize"}],
      "front_reference": {"accuracy": 0, "cost": 1}}, "'cost' is not one of the task's metrics"),
    ({"objectives": [{"metric": "accuracy", "direction": "maximize"}, {"metric": "flops", "direction": "minimize"}],
      "front_reference": {"accuracy": 0}}, "front_reference must give exactly the objective metrics"),
    ({"objectives": [{"metric": "accuracy", "direction": "maximize"}, {"metric": "flops", "direction": "minimize"}]},
     "front_reference must give exactly"),
    ({"objectives": [{"metric": "accuracy", "direction": "maximize"}, {"metric": "accuracy", "direction": "maximize"}],
      "front_reference": {"accuracy": 0}}, "name a metric twice"),
    ({"objectives": [{"metric": "accuracy", "direction": "up"}, {"metric": "flops", "direction": "minimize"}],
      "front_reference": {"accuracy": 0, "flops": 1}}, "objectives.0.direction"),
    ({"objectives": [{"metric": "accuracy", "direction": "maximize"},
                     {"metric": "flops", "direction": "minimize", "scale": "log10"}],
      "front_reference": {"accuracy": 0, "flops": 0}}, "must be > 0 on a log10 objective"),
    ({"front_reference": {"accuracy": 0}}, "front_reference given without objectives"),
])
def test_a_bad_front_is_one_line_naming_the_key(tmp_path, extra, message):
    with pytest.raises(TaskError) as caught:
        _load(tmp_path, **extra)
    assert message in str(caught.value) and "\n" not in str(caught.value)
