"""token_halting: every baseline's point (perplexity increase, FLOPs saved) with its spread, and evaluation time.

    PYTHONPATH=$PWD python bench/bench_token_halting.py --split heldout [--programs FILE ...] [--sandbox]

In process (trusted code: the shipped baselines, or program files you pass), each policy decodes
the split's streams; the spread is a 90 % bootstrap interval over streams (1000 resamples,
seed 0) of both coordinates, paired with the no-halting decode on the same resample.
`--sandbox` also times one evaluation of the seed through the process sandbox (the path a
campaign takes) and prints the machine's load average next to it.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from pathlib import Path

import torch

from evaluators.task import load_task
from evaluators.tasks.token_halting import flops
from evaluators.tasks.token_halting.scorer import halting_model, reference, score_of, split_streams
from evaluators.tasks.token_halting.simulator import decode

RESAMPLES = 1000


def per_stream_flops(cfg, layers_run: torch.Tensor) -> torch.Tensor:
    return torch.tensor([flops.total_flops(cfg, [row]) for row in layers_run.tolist()], dtype=torch.float64)


def point(nll, used, base_nll, full, rows: torch.Tensor) -> tuple[float, float]:
    """(perplexity increase %, FLOPs saved %) over the streams `rows` (with repeats: a bootstrap draw)."""
    ppl = math.exp(float(nll[rows].mean())) / math.exp(float(base_nll[rows].mean()))
    return 100 * (ppl - 1), 100 * (1 - float(used[rows].sum() / full[rows].sum()))


def measure(name: str, code: str, split: str, cfg, base, full: torch.Tensor) -> dict:
    namespace: dict = {}
    exec(compile(code, name, "exec"), namespace)
    started = time.perf_counter()
    outcome = decode(halting_model("cpu"), split_streams(split), namespace["halt"])
    seconds = time.perf_counter() - started
    used = per_stream_flops(cfg, outcome.layers_run)
    n = outcome.nll.shape[0]
    inc, saved = point(outcome.nll, used, base.nll, full, torch.arange(n))
    gen = torch.Generator().manual_seed(0)
    draws = [point(outcome.nll, used, base.nll, full, torch.randint(0, n, (n,), generator=gen))
             for _ in range(RESAMPLES)]
    incs, saves = sorted(d[0] for d in draws), sorted(d[1] for d in draws)
    lo, hi = int(0.05 * RESAMPLES), int(0.95 * RESAMPLES) - 1
    return {"name": name, "score": score_of(inc, saved), "ppl_increase_pct": inc, "flops_saved_pct": saved,
            "ppl_interval": (incs[lo], incs[hi]), "saved_interval": (saves[lo], saves[hi]), "seconds": seconds}


async def sandbox_time(split: str) -> float:
    from evaluators.runner import LocalExecutor
    task = load_task("token_halting")
    runner = LocalExecutor.create("process", workers=1)
    try:
        await runner.evaluate(task, task.seed_code, split="probe")  # start the worker and load the model
        started = time.perf_counter()
        result = await runner.evaluate(task, task.seed_code, split=split)
        if not result.ok:
            raise SystemExit(f"seed on {split}: {result.status.value}: {result.artifacts.get('message')}")
        return time.perf_counter() - started
    finally:
        await runner.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_token_halting.py")
    parser.add_argument("--split", default="heldout")
    parser.add_argument("--programs", nargs="*", default=[], help="program files to place next to the baselines")
    parser.add_argument("--only", nargs="*", help="baselines to measure (default: all)")
    parser.add_argument("--sandbox", action="store_true", help="also time one sandboxed evaluation of the seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    task = load_task("token_halting")
    model = halting_model("cpu")
    base = reference(args.split, "cpu")
    full = per_stream_flops(model.cfg, base.layers_run)
    programs = [(n, task.baseline_code(n)) for n in (args.only or task.spec.baselines)]
    programs += [(Path(p).stem, Path(p).read_text()) for p in args.programs]
    print(f"{args.split}: {split_streams(args.split).shape[0]} streams, base perplexity "
          f"{math.exp(float(base.nll.mean())):.4f}; load {os.getloadavg()[0]:.1f}")
    print("| program | score | perplexity increase % (90 % interval) | FLOPs saved % (90 % interval) | decode s |")
    print("|---|---|---|---|---|")
    for name, code in programs:
        m = measure(name, code, args.split, model.cfg, base, full)
        print(f"| {name} | {m['score']:.2f} | {m['ppl_increase_pct']:.3f} ({m['ppl_interval'][0]:.3f} to "
              f"{m['ppl_interval'][1]:.3f}) | {m['flops_saved_pct']:.2f} ({m['saved_interval'][0]:.2f} to "
              f"{m['saved_interval'][1]:.2f}) | {m['seconds']:.1f} |", flush=True)
    if args.sandbox:
        seconds = asyncio.run(sandbox_time(args.split))
        print(f"one sandboxed evaluation of the seed on {args.split}: {seconds:.1f} s (load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
