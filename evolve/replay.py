"""Recording input/output pairs for `evolve export --with-test`, and the replay test it writes.

The exported program is the user's own by now, so it runs in-process here: the task's trusted
scorer drives a stand-in for the sandbox's candidate handle that calls the program directly and
keeps a reservoir sample of its calls; the pairs go into a pytest file that needs neither evolve
nor the task's data.
"""
from __future__ import annotations

import json
import math
import random
import time
from typing import Any

from .errors import ExportError

RECORD_SECONDS = 8.0
RESERVOIR = 200
MAX_CASES = 24
CASES_BUDGET_BYTES = 64_000
OBJECT_CALLS = 40


class _Enough(Exception):
    pass


def _plain(value):
    """What crosses the sandbox boundary: the wire's plain-data round trip."""
    from sandbox import wire
    return wire.decode(wire.encode(value)[4:])


class RecordingCandidate:
    """In-process stand-in for `sandbox.candidate.Candidate` that records the entry point's calls."""

    def __init__(self, code: str, entry: str, adapter: str | None, deadline: float):
        namespace: dict[str, Any] = {"__name__": "exported_candidate"}
        exec(compile(code, "exported.py", "exec"), namespace)
        self._entry = namespace[entry]
        self._adapter: dict[str, Any] = {"__name__": "adapter"}
        if adapter:
            exec(compile(adapter, "adapter.py", "exec"), self._adapter)
        self.deadline = deadline
        self.calls = 0
        self.seen = 0
        self.samples: list[dict] = []
        self.objects: list[dict] = []
        self._rng = random.Random(0)
        self.is_class = isinstance(self._entry, type)

    @property
    def time_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def _check_time(self) -> None:
        if time.monotonic() > self.deadline and (self.samples or self.objects):
            raise _Enough

    def _recorder(self):
        entry = self._entry

        def recorded(*args):
            result = entry(*args)
            self.seen += 1
            if len(self.samples) < RESERVOIR:  # reservoir sample over the whole run; copy only what is kept
                slot = len(self.samples)
                self.samples.append(None)
            else:
                slot = self._rng.randrange(self.seen)
            if slot < RESERVOIR:
                self.samples[slot] = {"args": _plain(list(args)), "result": _plain(result)}
            return result

        return recorded

    def _resolve(self, fn):
        target = self._recorder() if not self.is_class else self._entry
        if not fn:
            return target
        function = self._adapter.get(fn)
        if fn.startswith("_") or not callable(function):
            raise NameError(f"no adapter function {fn!r}")
        return lambda *args: function(target, *_plain(list(args)))

    def _no_services(self, services) -> None:
        if services:
            raise ExportError("--with-test: this task's entry point calls trusted services (the model) that a "
                              "standalone test cannot provide; export without --with-test")

    def call(self, *args, fn=None, services=None):
        self._no_services(services)
        self._check_time()
        self.calls += 1
        return _plain(self._resolve(fn)(*_plain(list(args))))

    def batch(self, args_list, fn=None, services=None):
        self._no_services(services)
        self._check_time()
        self.calls += 1
        function = self._resolve(fn)
        return [_plain(function(*_plain(list(a)))) for a in args_list]

    def new(self, *args, fn=None):
        self._check_time()
        args = _plain(list(args))
        obj = self._resolve(fn)(*args)
        record = {"init": args, "calls": [], "fn": fn}
        self.objects.append({"obj": obj, "record": record})
        return len(self.objects) - 1

    def invoke(self, calls):
        self._check_time()
        values = []
        for handle, method, args in calls:
            if method.startswith("_"):
                raise AttributeError(f"method {method!r} is private")
            entry = self.objects[handle]
            args = _plain(list(args))
            value = _plain(getattr(entry["obj"], method)(*args))
            if len(entry["record"]["calls"]) < OBJECT_CALLS:
                entry["record"]["calls"].append([method, args, value])
            values.append(value)
        return values

    def close(self) -> dict:
        return {}


def _to_json(value):
    import numpy as np

    if isinstance(value, np.ndarray):
        return {"__nd__": [value.dtype.name, list(value.shape), value.ravel().tolist()]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def record_cases(task, code: str, seconds: float = RECORD_SECONDS) -> tuple[str, list[dict]]:
    """Run the trusted scorer in-process on the train split against `code`; returns (kind, cases)."""
    from evaluators.api import EvalContext

    split = task.spec.train_split
    candidate = RecordingCandidate(code, task.entry_point, task.adapter_code, time.monotonic() + seconds)
    if candidate.is_class and task.adapter_code and not hasattr(candidate, "new"):
        raise ExportError("--with-test: unsupported entry point kind")
    try:
        task.load_scorer().evaluate(candidate, split, EvalContext(task, split, task.limits, {}))
    except _Enough:
        pass
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"--with-test: running the program on the {split!r} split failed "
                          f"({type(exc).__name__}: {str(exc)[:200]}); export without --with-test") from None
    if candidate.is_class:
        cases = [_to_json({"init": o["record"]["init"], "fn": o["record"]["fn"], "calls": o["record"]["calls"]})
                 for o in candidate.objects[:4] if o["record"]["calls"]]
        kind = "object"
        if candidate.objects and not cases:
            cases = [_to_json({"init": o["record"]["init"], "fn": o["record"]["fn"], "calls": []})
                     for o in candidate.objects[:4]]
    else:
        encoded = [(len(json.dumps(_to_json(c))), i, _to_json(c)) for i, c in enumerate(candidate.samples)]
        chosen, used = [], 0
        for size, index, case in sorted(encoded, key=lambda t: (t[0], t[1])):
            if len(chosen) >= MAX_CASES or used + size > CASES_BUDGET_BYTES:
                break
            chosen.append((index, case))
            used += size
        cases = [case for _, case in sorted(chosen, key=lambda t: t[0])]
        kind = "call"
    if not cases:
        raise ExportError(f"--with-test: the scorer never called {task.entry_point!r} on the {split!r} split; "
                          f"nothing to record")
    return kind, cases


TEST_TEMPLATE = '''"""Regression test for {module}.py, written by `evolve export --with-test`.

It replays {count} input/output pairs recorded at export time ({when}) by running the trusted
scorer of task {task!r} on its {split!r} split against this exact program, in-process. If a
change to {module}.py alters what {entry} returns on these inputs, this test fails. It needs only
pytest{numpy_note}; it does not import evolve.
"""
import importlib.util
import json
import math
from pathlib import Path

import pytest

MODULE_PATH = Path(__file__).with_name("{module}.py")
KIND = {kind!r}
CASES = json.loads({cases_literal})


def _load():
    spec = importlib.util.spec_from_file_location({module!r}, MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode(value):
    if isinstance(value, dict):
        if "__nd__" in value:
            import numpy as np

            dtype, shape, flat = value["__nd__"]
            return np.asarray(flat, dtype=dtype).reshape(shape)
        if "__float__" in value:
            return float(value["__float__"])
        return {{k: _decode(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _same(actual, expected):
    if isinstance(expected, dict) and "__nd__" in expected:
        import numpy as np

        expected = _decode(expected)
        actual = np.asarray(actual)
        return actual.shape == expected.shape and bool(np.allclose(actual, expected, rtol=1e-7, atol=1e-9,
                                                                    equal_nan=True))
    if isinstance(expected, list):
        if hasattr(actual, "tolist"):
            actual = actual.tolist()
        return isinstance(actual, (list, tuple)) and len(actual) == len(expected) and all(
            _same(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, dict) and "__float__" in expected:
        expected = float(expected["__float__"])
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() and all(
            _same(actual[k], v) for k, v in expected.items())
    if hasattr(actual, "item") and not isinstance(actual, (list, tuple, dict)):
        actual = actual.item()
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return actual == expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and (
            actual == expected or math.isclose(actual, expected, rel_tol=1e-7, abs_tol=1e-9)
            or (math.isnan(actual) and math.isnan(expected)))
    return actual == expected


def test_entry_point_exists():
    assert callable(getattr(_load(), {entry!r}))


@pytest.mark.parametrize("index", range(len(CASES)))
def test_replays_recorded_case(index):
    module = _load()
    entry = getattr(module, {entry!r})
    case = CASES[index]
    if KIND == "call":
        actual = entry(*_decode(case["args"]))
        assert _same(actual, case["result"]), f"case {{index}}: {entry} returned {{actual!r}}"
    else:
        obj = entry(*_decode(case["init"]))
        for step, (method, args, expected) in enumerate(case["calls"]):
            actual = getattr(obj, method)(*_decode(args))
            assert _same(actual, expected), f"case {{index}} step {{step}}: {{method}} returned {{actual!r}}"
'''


def build_test(*, module_name: str, task, kind: str, cases: list[dict], when: str, uses_numpy: bool) -> str:
    payload = json.dumps(cases, separators=(",", ":"))
    return TEST_TEMPLATE.format(module=module_name, count=len(cases), when=when, task=task.name,
                                split=task.spec.train_split, entry=task.entry_point, kind=kind,
                                cases_literal=repr(payload), numpy_note=" and numpy" if uses_numpy else "")
