"""Measure every baseline of a model-backed task and print the README table.

    python -m evaluators.tasks.models.measure tts_search --splits train validation heldout [--only NAME ...] [--write]

Evaluates each baseline through the process sandbox (the same path as `evolve eval`), prints
a markdown table of the task's headline metrics, and with --write stores the figures in the
task.yaml `measured` field of each baseline (rewriting only those lines).
"""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time

from evaluators.task import load_task
from evaluators.runner import LocalExecutor

COLUMNS = {
    "tts_search": ["accuracy", "accuracy_level1", "accuracy_level2", "accuracy_level3", "accuracy_level4",
                   "flops_per_problem", "generator_flops_per_problem", "verifier_flops_per_problem"],
    "spec_decoding": ["speedup", "target_calls_per_token", "flops_per_token", "acceptance_rate",
                      "tokens_per_round", "proposed_per_round"],
    "token_halting": ["score", "ppl_increase_pct", "flops_saved_pct", "perplexity", "accuracy", "mean_layers_run"],
}


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e4 else f"{value:.3f}"


async def measure(task_name: str, splits: list[str], only: list[str] | None = None) -> dict:
    task = load_task(task_name)
    sandbox = LocalExecutor.create("process", workers=1)
    out: dict = {}
    try:
        for name in only or task.spec.baselines:
            for split in splits:
                started = time.perf_counter()
                res = await sandbox.evaluate(task, task.baseline_code(name), split=split)
                if not res.ok:
                    raise SystemExit(f"{name} on {split}: {res.status.value}: {res.artifacts.get('message')}")
                figures = {**res.metrics, "score": res.score}
                out.setdefault(name, {})[split] = {k: figures[k] for k in COLUMNS[task_name]}
                print(f"  {name} {split}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    finally:
        await sandbox.close()
    return out


def table(task_name: str, results: dict, splits: list[str]) -> str:
    cols = COLUMNS[task_name]
    lines = []
    for split in splits:
        lines.append(f"\n{split}:\n")
        lines.append("| baseline | " + " | ".join(cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for name, by_split in results.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(by_split[split][c]) for c in cols) + " |")
    return "\n".join(lines)


def write(task_name: str, results: dict) -> None:
    path = load_task(task_name).root / "task.yaml"
    text = path.read_text()
    for name, by_split in results.items():
        block = "    measured:\n" + "".join(
            f"      {split}: {{" + ", ".join(f"{k}: {float(f'{v:.4g}')}" for k, v in metrics.items()) + "}\n"
            for split, metrics in by_split.items())
        pattern = re.compile(rf"(  {re.escape(name)}:\n    path: [^\n]*\n    description: [^\n]*\n)(    measured:\n(      [^\n]*\n)*)?")
        text, n = pattern.subn(lambda m: m.group(1) + block, text, count=1)
        if n != 1:
            raise SystemExit(f"could not find baseline {name} in {path}")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.tasks.models.measure")
    parser.add_argument("task", choices=list(COLUMNS))
    parser.add_argument("--splits", nargs="+", help="default: every split of the task")
    parser.add_argument("--only", nargs="+", metavar="BASELINE", help="measure only these baselines")
    parser.add_argument("--write", action="store_true", help="store the figures in task.yaml")
    args = parser.parse_args(argv)
    if args.only:
        known = load_task(args.task).spec.baselines
        unknown = [name for name in args.only if name not in known]
        if unknown:
            parser.error(f"{args.task} has no baseline {', '.join(unknown)}; known: {', '.join(known)}")
    splits = args.splits or list(load_task(args.task).spec.splits)
    results = asyncio.run(measure(args.task, splits, args.only))
    print(table(args.task, results, splits))
    if args.write:
        write(args.task, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
