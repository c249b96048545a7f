"""Export an evolved program: a standalone module, a JSON sidecar, and an optional replay test.

The module is the program itself with the EVOLVE-BLOCK markers stripped and its own docstring
replaced by one carrying provenance (campaign, program, lineage step, export time) and
metrics on every split it was evaluated on. It keeps exactly the program's imports; an
export that would import anything from this project is refused.

How the regression test gets its input/output pairs
---------------------------------------------------
We record them at export time by running the task's trusted scorer *in this process* on the
training split against the exported code, through `RecordingCandidate`: an in-process stand-in
for the sandbox's `Candidate` that executes the task's adapter exactly as the jail does
(`sandbox/zygote.py`), but with the entry point wrapped so that every call's arguments (after a
wire round trip, so they are the plain data the sandbox would deliver) and result are captured.
Running in-process is acceptable here and only here: the user has chosen this program to take
home, so it is trusted code at this point, and these are the real inputs the scorer produces
(real item sizes and bin states, real traces) rather than inputs we would have to invent per
task. Calls are sampled evenly over the run, the smallest are kept up to a size budget, and the
run is cut short once it has produced enough (`RECORD_SECONDS`). Class entry points are
recorded as one object's constructor arguments plus its first method calls, replayed in order.
Tasks whose entry point calls back into trusted services (a model) cannot be replayed without
those services, so `--with-test` is refused for them with a one-line error.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import keyword
import math
import random
import textwrap
import time
from pathlib import Path
from typing import Any

from . import __version__
from .code import strip_markers
from .errors import UserError

PROJECT_PACKAGES = {"evolve", "evaluators", "sandbox", "archive", "prompts"}
RECORD_SECONDS = 8.0
RESERVOIR = 200
MAX_CASES = 24
CASES_BUDGET_BYTES = 64_000
OBJECT_CALLS = 40


class ExportError(UserError):
    """An export request cannot be satisfied; one line naming what to change."""


@dataclasses.dataclass
class Exported:
    module: Path
    sidecar: Path
    test: Path | None
    program_id: int
    cases: int


# ---- choosing the program ---------------------------------------------------------------
def choose_program(archive, campaign, *, program_id: int | None = None, best: bool = False,
                   cell: str | None = None) -> int:
    if sum(x is not None and x is not False for x in (program_id, cell, best or None)) > 1:
        raise ExportError("give only one of --program, --best, --cell")
    if program_id is not None:
        program = archive.program(program_id)
        if program.campaign_id != campaign.id:
            raise ExportError(f"program {program_id} belongs to another campaign (id {program.campaign_id})")
        if program.code is None:
            raise ExportError(f"program {program_id} has no code (its edit failed); pick another program")
        return program_id
    elites = archive.elites(campaign.id)
    if cell is not None:
        key = cell.replace(" ", "")
        found = [e for e in elites if e.key == key]
        if not found:
            filled = ", ".join(sorted(e.key for e in elites)[:12]) or "none"
            raise ExportError(f"cell {cell!r} of campaign {campaign.name} holds no elite; filled cells: {filled}")
        return found[0].program_id
    if not elites:
        raise ExportError(f"campaign {campaign.name} has no successfully evaluated program yet")
    return max(elites, key=lambda e: (e.score, -e.program_id)).program_id


# ---- the module -------------------------------------------------------------------------
def _split_docstring(code: str) -> tuple[str | None, str]:
    """The program's own module docstring (if any) and the code without it."""
    tree = ast.parse(code)
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        node = tree.body[0]
        lines = code.splitlines(keepends=True)
        rest = "".join(lines[:node.lineno - 1] + lines[node.end_lineno:])
        return node.value.value, rest.lstrip("\n")
    return None, code


def imported_modules(code: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _defines(code: str, name: str) -> bool:
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def _metric_lines(task, evaluation) -> list[str]:
    lines = [f"  score        {_fmt(evaluation.score)}   ({task.spec.score})"]
    width = max((len(k) for k in evaluation.metrics), default=0)
    for name, value in evaluation.metrics.items():
        spec = task.spec.metrics.get(name)
        note = f"   {spec.unit + ', ' if spec and spec.unit else ''}{spec.direction}" if spec else ""
        lines.append(f"  {name.ljust(width)}  {_fmt(value)}{note}")
    return lines


def build_docstring(*, task, campaign, program, evaluations: list, lineage: list, db_url: str,
                    original: str | None, exported_at: str) -> str:
    spec = task.spec
    first = spec.description.strip().split(". ")[0].rstrip(".")
    parent = f" (parent #{program.parent_id})" if program.parent_id else ""
    out = [f"{spec.entry_point}: an evolved policy for task {task.name!r}, exported by evolve {__version__}.", "",
           textwrap.fill(first + ".", 92), ""]
    if spec.signature:
        out += [f"Entry point: {spec.signature}", ""]
    out += ["Provenance",
            f"  campaign     {campaign.name} (id {campaign.id}), seed {campaign.seed}",
            f"  program      #{program.id}: iteration {program.iteration}, generation {program.generation}, "
            f"island {program.island}",
            f"  made by      {program.mutator} / {program.operator}{parent}",
            f"  lineage      {len(lineage)} step(s) back to the seed; full lineage in the JSON sidecar",
            f"  exported     {exported_at} from {db_url}", ""]
    for evaluation in evaluations:
        label = (f"split {evaluation.split!r}: {spec.splits.get(evaluation.split, '')}").strip().rstrip(":")
        out.append(f"Metrics on {textwrap.shorten(label, 84)}")
        if evaluation.status != "ok":
            out.append(f"  status       {evaluation.status}")
        else:
            out += _metric_lines(task, evaluation)
        out.append("")
    if spec.data_attribution:
        out += ["Data: " + spec.data_attribution, ""]
    if original:
        out += ["Original module docstring:", textwrap.indent(original.strip(), "  "), ""]
    text = "\n".join(out).rstrip() + "\n"
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def build_module(code: str, docstring: str, entry_point: str) -> str:
    stripped = strip_markers(code)
    try:
        _, body = _split_docstring(stripped)
    except SyntaxError as exc:
        raise ExportError(f"the program does not parse (line {exc.lineno}: {exc.msg}); pick another program") from None
    project = imported_modules(body) & PROJECT_PACKAGES
    if project:
        raise ExportError(f"the program imports {', '.join(sorted(project))} from this project; it cannot stand alone")
    if not _defines(body, entry_point):
        raise ExportError(f"the program does not define its entry point {entry_point!r} at top level")
    module = f'"""{docstring}"""\n' + body
    ast.parse(module)
    return module


# ---- recording input/output pairs --------------------------------------------------------
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


# ---- the whole export --------------------------------------------------------------------
def _paths(out: str | Path, task_name: str, program_id: int) -> tuple[Path, Path, Path]:
    out = Path(out).expanduser()
    if out.is_dir() or str(out).endswith(("/", "\\")):
        out = out / f"{task_name}_p{program_id}.py"
    if out.suffix != ".py":
        raise ExportError(f"--out {out}: the module path must end in .py (or be a directory)")
    if not out.stem.isidentifier() or keyword.iskeyword(out.stem):
        raise ExportError(f"--out {out}: {out.stem!r} is not an importable module name; use letters, digits, _")
    if not out.parent.exists():
        raise ExportError(f"--out {out}: directory {out.parent} does not exist")
    return out, out.with_suffix(".json"), out.with_name(f"test_{out.stem}.py")


def export_program(archive, campaign, program_id: int, out: str | Path, *, with_test: bool = False,
                   record_seconds: float = RECORD_SECONDS) -> Exported:
    from archive.db import database_url
    from evaluators.task import load_task

    from .config import CampaignConfig

    config = CampaignConfig.model_validate(campaign.config)
    task = load_task(config.task, config.task_dir)
    program = archive.program(program_id)
    if program.code is None:
        raise ExportError(f"program {program_id} has no code (its edit failed); pick another program")
    module_path, sidecar_path, test_path = _paths(out, task.name, program.id)
    evaluations = archive.evaluations_of(program.id)
    lineage = archive.lineage_rows(program.id)
    exported_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    db_url = database_url(archive.db)
    original, _ = _split_docstring(strip_markers(program.code)) if _parses(program.code) else (None, None)
    docstring = build_docstring(task=task, campaign=campaign, program=program, evaluations=evaluations,
                                lineage=lineage, db_url=db_url, original=original, exported_at=exported_at)
    module = build_module(program.code, docstring, task.entry_point)
    kind, cases = ("call", [])
    if with_test:
        kind, cases = record_cases(task, module, record_seconds)
    sidecar = {
        "exported_at": exported_at, "evolve_version": __version__, "database": db_url,
        "campaign": {"id": campaign.id, "name": campaign.name, "seed": campaign.seed, "config": campaign.config},
        "task": {"name": task.name, "entry_point": task.entry_point, "signature": task.spec.signature,
                 "score": task.spec.score, "metrics": {k: v.model_dump() for k, v in task.spec.metrics.items()},
                 "splits": task.spec.splits, "data_attribution": task.spec.data_attribution},
        "program": {"id": program.id, "iteration": program.iteration, "generation": program.generation,
                    "island": program.island, "mutator": program.mutator, "operator": program.operator,
                    "parent_id": program.parent_id, "inspiration_ids": program.inspiration_ids,
                    "edit": program.edit, "created_at": program.created_at.isoformat()},
        "evaluations": [{"split": e.split, "status": e.status, "score": e.score, "metrics": e.metrics,
                         "descriptors": e.descriptors, "artifacts": e.artifacts, "wall_time": e.wall_time,
                         "cpu_time": e.cpu_time} for e in evaluations],
        "lineage": lineage,
        "imports": sorted(imported_modules(module)),
        "test": {"file": test_path.name, "kind": kind, "cases": len(cases)} if with_test else None,
    }
    module_path.write_text(module)
    sidecar_path.write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    if with_test:
        test_path.write_text(build_test(module_name=module_path.stem, task=task, kind=kind, cases=cases,
                                        when=exported_at, uses_numpy="numpy" in imported_modules(module)
                                        or "__nd__" in json.dumps(cases)))
    return Exported(module_path, sidecar_path, test_path if with_test else None, program.id, len(cases))


def _parses(code: str) -> bool:
    try:
        ast.parse(strip_markers(code))
        return True
    except SyntaxError:
        return False
