"""The replay test of `evolve export --with-test`: a recorded conversation, and the pytest file replaying it.

The program is never run in this process. The task's trusted scorer drives it in the sandbox,
as in a campaign, on the training split; the candidate handle (sandbox.recording) keeps the
first messages that crossed the boundary, arguments as the program received them and values as
it sent them back. The test replays that prefix in order against the exported module, through
the task's adapter functions (embedded in the test, since the scorer's messages go through them),
so state a program keeps between calls is rebuilt exactly.
"""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from ..errors import ExportError

if TYPE_CHECKING:
    from evaluators.contract import Executor
    from evaluators.task import Task
    from sandbox import Limits

RECORD_BYTES = 64_000
RECORD_MESSAGES = 200


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


async def record_cases(task: Task, code: str, limits: Limits, executor: Executor) -> list[dict[str, Any]]:
    """Run the trusted scorer on the train split against `code` through `executor`; the recorded messages."""
    split = task.spec.train_split
    result = await executor.evaluate(task, code, limits, split=split,
                                    options={"record": {"max_bytes": RECORD_BYTES, "max_messages": RECORD_MESSAGES}})
    recording = result.artifacts.get("recording") or {}
    if recording.get("refused"):
        raise ExportError(f"--with-test: {recording['refused']}; export without --with-test")
    if not result.ok:
        raise ExportError(f"--with-test: the program failed on the {split!r} split ({result.status.value}: "
                          f"{str(result.artifacts.get('message', ''))[:200]}); export without --with-test")
    messages = recording.get("messages") or []
    if not messages:
        raise ExportError(f"--with-test: the scorer never called {task.entry_point!r} on the {split!r} split; "
                          f"nothing to record")
    return [_to_json(m) for m in messages]


TEST_TEMPLATE = '''"""Regression test for {module}.py, written by `evolve export --with-test`.

It replays the first {count} messages of a conversation recorded at export time ({when}) while
the trusted scorer of task {task!r} ran this exact program on its {split!r} split in a sandbox.
Messages go through the task's adapter functions (below) exactly as they did there, in order,
so any state the program keeps is rebuilt. If a change to {module}.py alters what it returns on
these inputs, this test fails. It needs only pytest{numpy_note}; it does not import evolve.
"""
import importlib.util
import json
import math
from pathlib import Path

MODULE_PATH = Path(__file__).with_name("{module}.py")
ENTRY = {entry!r}
ADAPTER_SOURCE = {adapter_literal}
MESSAGES = json.loads({cases_literal})


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
    assert callable(getattr(_load(), ENTRY))


def test_replays_recorded_conversation():
    entry = getattr(_load(), ENTRY)
    adapter = {{"__name__": "adapter"}}
    if ADAPTER_SOURCE:
        exec(compile(ADAPTER_SOURCE, "adapter.py", "exec"), adapter)

    def target(fn):
        return entry if not fn else (lambda *args: adapter[fn](entry, *args))

    objects = []
    for step, message in enumerate(MESSAGES):
        op, args = message["op"], _decode(message["args"])
        if op == "call":
            actual = target(message["fn"])(*args)
        elif op == "batch":
            actual = [target(message["fn"])(*a) for a in args]
        elif op == "new":
            objects.append(target(message["fn"])(*args))
            actual = len(objects) - 1
        else:  # invoke
            actual = [getattr(objects[handle], method)(*call_args) for handle, method, call_args in args]
        assert _same(actual, message["result"]), f"message {{step}} ({{op}} {{message['fn'] or ENTRY}}) returned {{actual!r}}"
'''


def build_test(*, module_name: str, task: Task, cases: list[dict], when: str, uses_numpy: bool) -> str:
    payload = json.dumps(cases, separators=(",", ":"))
    return TEST_TEMPLATE.format(module=module_name, count=len(cases), when=when, task=task.name,
                                split=task.spec.train_split, entry=task.entry_point,
                                adapter_literal=repr(task.adapter_code or ""),
                                cases_literal=repr(payload), numpy_note=" and numpy" if uses_numpy else "")
