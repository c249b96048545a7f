"""Export an evolved program: a standalone module, a JSON sidecar, and an optional replay test.

The module is the program itself with the EVOLVE-BLOCK markers stripped and its own docstring
replaced by one carrying provenance (campaign, program, lineage step, export time) and
metrics on every split it was evaluated on. It keeps exactly the program's imports; an
export that would import anything from this project is refused.

The regression test (`--with-test`) replays a conversation recorded on the trusted side of the
sandbox while the task's scorer drove the program there (see evolve/export/regression_test.py): the program is
never executed in this process, which holds the archive and the user's API keys.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import keyword
import math
import textwrap
from pathlib import Path
from typing import Any

from archive.schema import CampaignRecord, Evaluation, Program
from evaluators.task import Task

from .. import __version__
from ..code import strip_markers
from ..errors import ExportError
from ..best import selected_best
from .regression_test import build_test, record_cases

PROJECT_PACKAGES = {"evolve", "evaluators", "sandbox", "archive", "prompts"}


@dataclasses.dataclass
class Exported:
    module: Path
    sidecar: Path
    test: Path | None
    program_id: int
    cases: int


# ---- choosing the program ---------------------------------------------------------------
def choose_program(campaign, *, program_id: int | None = None, best: bool = False, cell: str | None = None) -> int:
    archive = campaign.archive
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
    selected = selected_best(archive, campaign.record)  # what `evolve best` shows: chosen on validation
    if selected is None:
        raise ExportError(f"campaign {campaign.name} has no successfully evaluated program yet")
    return selected.program.id


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


def _metric_lines(task: Task, evaluation: Evaluation) -> list[str]:
    lines = [f"  score        {_fmt(evaluation.score)}   ({task.spec.score})"]
    width = max((len(k) for k in evaluation.metrics), default=0)
    for name, value in evaluation.metrics.items():
        spec = task.spec.metrics.get(name)
        note = f"   {spec.unit + ', ' if spec and spec.unit else ''}{spec.direction}" if spec else ""
        lines.append(f"  {name.ljust(width)}  {_fmt(value)}{note}")
    return lines


def build_docstring(*, task: Task, campaign: CampaignRecord, program: Program, evaluations: list, lineage: list, db_url: str,
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


def export_program(campaign, program_id: int, out: str | Path, *, with_test: bool = False) -> Exported:
    """Write the module, its sidecar and (with_test) a replay test for one program of `campaign`."""
    from archive.db import database_url, display_url

    archive, task, record = campaign.archive, campaign.task, campaign.record
    program = archive.program(program_id)
    if program.campaign_id != campaign.id:
        raise ExportError(f"program {program_id} belongs to another campaign (id {program.campaign_id})")
    if program.code is None:
        raise ExportError(f"program {program_id} has no code (its edit failed); pick another program")
    module_path, sidecar_path, test_path = _paths(out, task.name, program.id)
    evaluations = archive.evaluations_of(program.id)
    lineage = archive.lineage_rows(program.id)
    exported_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    db_url = display_url(database_url(archive.db))
    original, _ = _split_docstring(strip_markers(program.code)) if _parses(program.code) else (None, None)
    docstring = build_docstring(task=task, campaign=record, program=program, evaluations=evaluations,
                                lineage=lineage, db_url=db_url, original=original, exported_at=exported_at)
    module = build_module(program.code, docstring, task.entry_point)
    cases: list[dict] = []
    if with_test:
        cases = _record(campaign, module)
    sidecar = {
        "exported_at": exported_at, "evolve_version": __version__, "database": db_url,
        "campaign": {"id": record.id, "name": record.name, "seed": record.seed, "config": record.config},
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
        "test": {"file": test_path.name, "messages": len(cases)} if with_test else None,
    }
    module_path.write_text(module)
    sidecar_path.write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    if with_test:
        test_path.write_text(build_test(module_name=module_path.stem, task=task, cases=cases, when=exported_at,
                                        uses_numpy="numpy" in imported_modules(module) | imported_modules(
                                            task.adapter_code or "") or "__nd__" in json.dumps(cases)))
    return Exported(module_path, sidecar_path, test_path if with_test else None, program.id, len(cases))


def _record(campaign, module: str) -> list[dict]:
    """The module's conversation with the trusted scorer, recorded in the campaign's sandbox."""
    import asyncio

    from ..executors import local_executor

    async def run():
        sandbox = local_executor(campaign.config.sandbox, workers=1, jail=campaign.config.jail)
        try:
            return await record_cases(campaign.task, module, campaign.limits, sandbox)
        finally:
            await sandbox.close()

    return asyncio.run(run())


def _parses(code: str) -> bool:
    try:
        ast.parse(strip_markers(code))
        return True
    except SyntaxError:
        return False
