"""`evolve tasks`: the built-in tasks with their baselines, splits and metrics."""
from __future__ import annotations

from rich.table import Table

from evaluators.devices import describe_device, task_device
from evaluators.task import Task

from .common import add_json, console, err_console, print_json


def add_parser(sub) -> None:
    parser = sub.add_parser("tasks", help="list built-in tasks with their baselines, splits and metrics")
    parser.add_argument("--task-dir", help="describe a task directory instead")
    add_json(parser)
    parser.set_defaults(handler=run)


def warnings(task: Task) -> list[str]:
    """What a campaign on this task will lack in its report (one line each, naming the task.yaml key)."""
    spec, found = task.spec, []
    if spec.validation_split is None:
        found.append(f"task {spec.name}: no validation split (task.yaml validation_split): a campaign's best is "
                     f"chosen by its training score alone, which rewards overfitting")
    if spec.reference_baseline is None:
        found.append(f"task {spec.name}: no reference baseline (task.yaml reference_baseline): reports compare "
                     f"the evolved best against nothing")
    return found


def describe(task: Task) -> dict:
    spec = task.spec
    roles = spec.split_roles()
    reference = spec.reference_baseline
    return {
        "name": spec.name, "description": " ".join(spec.description.split()), "entry_point": spec.entry_point,
        "signature": spec.signature, "score": spec.score,
        "metrics": {k: v.model_dump() for k, v in spec.metrics.items()},
        "descriptors": [d.model_dump() for d in spec.descriptors],
        "splits": {name: {"role": roles[name], "description": " ".join(text.split())}
                   for name, text in spec.splits.items()},
        "train_split": spec.train_split, "validation_split": spec.validation_split,
        "heldout_split": spec.heldout_split if spec.heldout_split in spec.splits else None,
        "baselines": {k: {"description": v.description, "measured": v.measured} for k, v in spec.baselines.items()},
        "reference_baseline": (None if reference is None else
                               {"name": reference, "measured": spec.baselines[reference].measured}),
        "wants_gpu": spec.wants_gpu, "device": task_device(spec.device), "declared_device": spec.device,
        "root": str(task.root), "warnings": warnings(task),
    }


def run(args) -> int:
    from evaluators.task import builtin_task_names, load_builtin, load_task_dir

    tasks = [load_task_dir(args.task_dir)] if args.task_dir else [load_builtin(n) for n in builtin_task_names()]
    described = [describe(t) for t in tasks]
    for d in described:  # on stderr: --json output stays parseable
        for line in d["warnings"]:
            err_console.print(f"warning: {line}", soft_wrap=True, markup=False)
    if args.json:
        print_json(described)
        return 0
    table = Table(title="tasks", show_lines=True)
    for column in ("task", "entry point", "device", "splits (role)", "baselines", "metrics"):
        table.add_column(column)
    for d in described:
        reference = (d["reference_baseline"] or {}).get("name")
        table.add_row(d["name"], d["signature"] or d["entry_point"], describe_device(d["declared_device"]),
                      "\n".join(f"{name} ({split['role']})" for name, split in d["splits"].items()),
                      "\n".join(f"{name} (reference)" if name == reference else name for name in d["baselines"]) or "-",
                      "\n".join(f"{k} ({'↑' if v['direction'] == 'maximize' else '↓'})" for k, v in d["metrics"].items()))
    console.print(table)
    return 0
