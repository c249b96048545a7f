"""`evolve eval TASK (FILE | --baseline NAME)`: score one program on one split."""
from __future__ import annotations

import asyncio
import math
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
    parser.add_argument("--wall-s", type=float, metavar="SECONDS", help="wall-clock limit (default: the task's)")
    parser.add_argument("--cpu-s", type=float, metavar="SECONDS", help="CPU-time limit (default: the task's)")
    parser.add_argument("--memory-mb", type=int, metavar="MB", help="memory limit (default: the task's)")
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


def limits_from_flags(task, args):
    """The task's limits with --wall-s / --cpu-s / --memory-mb applied (slow but valid programs stay measurable)."""
    for flag, value, least in (("--wall-s", args.wall_s, 0), ("--cpu-s", args.cpu_s, 0), ("--memory-mb", args.memory_mb, 64)):
        if value is not None and not (value > least and math.isfinite(value)):
            need = "a positive number of seconds" if least == 0 else f"a number of megabytes above {least}"
            raise UserError(f"{flag} {value:g} is not allowed; give {need}")
    return task.limits.replace(wall_s=args.wall_s, cpu_s=args.cpu_s, memory_mb=args.memory_mb)


def run(args) -> int:
    from evaluators.task import load_task
    from evolve.executors import local_executor

    if args.task_dir and args.task and not args.file:  # `evolve eval --task-dir D prog.py`
        args.file, args.task = args.task, None
    task = load_task(args.task, args.task_dir)
    code, label = resolve_program(task, args.file, args.baseline)
    split = task.check_split(args.split or task.spec.train_split)
    limits = limits_from_flags(task, args)

    async def evaluate():
        sandbox = local_executor(args.sandbox, workers=1, jail=args.jail)
        try:
            return await sandbox.evaluate(task, code, limits, split=split)
        finally:
            await sandbox.close()

    result = asyncio.run(evaluate())
    data = {"task": task.name, "program": label, "split": split, "limits": limits.to_dict(), **result.to_dict()}
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
        table.add_row("limits", f"{limits.wall_s:g} s wall, {limits.cpu_s:g} s CPU, {limits.memory_mb:g} MB")
        console.print(table)
        if not result.ok:
            console.print(f"[red]{result.artifacts.get('message', '')}[/red]")
    return 0 if result.ok else 1
