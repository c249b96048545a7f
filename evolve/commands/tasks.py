"""`evolve tasks`: the built-in tasks with their baselines, splits and metrics."""
from __future__ import annotations

from rich.table import Table

from evaluators.devices import describe_device, task_device
from evaluators.task import Task

from .common import add_json, console, print_json


def add_parser(sub) -> None:
    parser = sub.add_parser("tasks", help="list built-in tasks with their baselines, splits and metrics")
    parser.add_argument("--task-dir", help="describe a task directory instead")
    add_json(parser)
    parser.set_defaults(handler=run)


def describe(task: Task) -> dict:
    spec = task.spec
    return {
        "name": spec.name, "description": " ".join(spec.description.split()), "entry_point": spec.entry_point,
        "signature": spec.signature, "score": spec.score,
        "metrics": {k: v.model_dump() for k, v in spec.metrics.items()},
        "descriptors": [d.model_dump() for d in spec.descriptors], "splits": spec.splits,
        "baselines": {k: {"description": v.description, "measured": v.measured} for k, v in spec.baselines.items()},
        "wants_gpu": spec.wants_gpu, "device": task_device(spec.device), "declared_device": spec.device,
        "root": str(task.root),
    }


def run(args) -> int:
    from evaluators.task import builtin_task_names, load_builtin, load_task_dir

    tasks = [load_task_dir(args.task_dir)] if args.task_dir else [load_builtin(n) for n in builtin_task_names()]
    described = [describe(t) for t in tasks]
    if args.json:
        print_json(described)
        return 0
    table = Table(title="tasks", show_lines=True)
    for column in ("task", "entry point", "device", "splits", "baselines", "metrics"):
        table.add_column(column)
    for d in described:
        table.add_row(d["name"], d["signature"] or d["entry_point"], describe_device(d["declared_device"]),
                      "\n".join(d["splits"]),
                      "\n".join(d["baselines"]) or "-",
                      "\n".join(f"{k} ({'↑' if v['direction'] == 'maximize' else '↓'})" for k, v in d["metrics"].items()))
    console.print(table)
    return 0
