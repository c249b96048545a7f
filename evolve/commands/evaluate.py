"""`evolve eval TASK (FILE | --baseline NAME)`: score one program on one split."""
from __future__ import annotations

import asyncio
from pathlib import Path

from rich.table import Table

from evaluators.task import Task
from sandbox import BACKENDS

from ..errors import UserError
from .common import add_json, console, fmt, print_json


def add_parser(sub) -> None:
    parser = sub.add_parser("eval", help="evaluate a program file or a shipped baseline on a task")
    parser.add_argument("task", nargs="?", help="built-in task name (or use --task-dir)")
    parser.add_argument("file", nargs="?", help="a Python file defining the task's entry point")
    parser.add_argument("--task-dir", help="a task directory (task.yaml, seed, scorer)")
    parser.add_argument("--baseline", help="evaluate the task's named baseline instead of a file")
    parser.add_argument("--split", help="which workload split (default: the task's training split)")
    parser.add_argument("--sandbox", choices=list(BACKENDS), default="process")
    parser.add_argument("--jail", choices=["auto", "bwrap", "none"], default="auto")
    add_json(parser)
    parser.set_defaults(handler=run)


def resolve_program(task: Task, file: str | None, baseline: str | None) -> tuple[str, str]:
    if bool(file) == bool(baseline):
        raise UserError("give exactly one of FILE or --baseline NAME")
    if baseline:
        return task.baseline_code(baseline), f"baseline:{baseline}"
    path = Path(file)
    if not path.is_file():
        raise UserError(f"program file {file} does not exist")
    return path.read_text(), str(path)


def run(args) -> int:
    from evaluators.task import load_task
    from evolve.executors import make_sandbox

    if args.task_dir and args.task and not args.file:  # `evolve eval --task-dir D prog.py`
        args.file, args.task = args.task, None
    task = load_task(args.task, args.task_dir)
    code, label = resolve_program(task, args.file, args.baseline)
    split = task.check_split(args.split or task.spec.train_split)

    async def evaluate():
        sandbox = make_sandbox(args.sandbox, workers=1, jail=args.jail)
        try:
            return await sandbox.evaluate(task, code, task.limits, split=split)
        finally:
            await sandbox.close()

    result = asyncio.run(evaluate())
    data = {"task": task.name, "program": label, "split": split, **result.to_dict()}
    if args.json:
        print_json(data)
    else:
        table = Table(title=f"{task.name} · {label} · split {split}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("status", result.status.value)
        table.add_row("score", fmt(result.score, 6))
        for name, value in result.metrics.items():
            unit = task.spec.metrics[name].unit if name in task.spec.metrics else ""
            table.add_row(name, (f"{value:.2f} {unit}" if unit == "%" and isinstance(value, float) else fmt(value, 6)))
        table.add_row("wall time", f"{result.wall_time:.2f} s")
        console.print(table)
        if not result.ok:
            console.print(f"[red]{result.artifacts.get('message', '')}[/red]")
    return 0 if result.ok else 1
