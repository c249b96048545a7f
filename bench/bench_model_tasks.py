"""Benchmarks of the model-backed tasks (tts_search, spec_decoding).

    python bench/bench_model_tasks.py            # every baseline on its training split + FLOP-counting overhead
    python bench/bench_model_tasks.py --quick    # two baselines per task

Prints, for every baseline, the wall time of a full evaluation of the training split through
the process sandbox (one worker: a fresh worker process, so the first evaluation of each task
includes loading the models), with its score; then the cost of counting FLOPs: the same
model work run with no counter, with FlopCounterMode on every forward pass, and with the
memoised counter the scorers use, cold (every shape new) and warm (shapes seen before: the
scorers keep counted shapes per worker process, so every evaluation after the first is warm).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from evaluators.tasks.models import arith, corpus  # noqa: E402
from evaluators.tasks.models.decoding import continue_batch, solution_probabilities  # noqa: E402
from evaluators.tasks.models.flops import Meter  # noqa: E402
from evaluators.tasks.models.registry import shared_model  # noqa: E402
from evaluators.task import load_task  # noqa: E402
from evolve.executors import local_executor  # noqa: E402

QUICK = {"tts_search": ["greedy", "best_of_n"], "spec_decoding": ["fixed_k1", "fixed_k4"]}
HEADLINE = {"tts_search": ("accuracy", "flops_per_problem"), "spec_decoding": ("speedup", "flops_per_token")}


async def time_baselines(names: dict[str, list[str]]) -> list[tuple]:
    rows = []
    for task_name, baselines in names.items():
        task = load_task(task_name)
        sandbox = local_executor("process", workers=1)
        try:
            for i, baseline in enumerate(baselines):
                started = time.perf_counter()
                res = await sandbox.evaluate(task, task.baseline_code(baseline), split="train")
                a, b = HEADLINE[task_name]
                rows.append((task_name, baseline, time.perf_counter() - started, res.status.value, res.score,
                             res.metrics.get(a), res.metrics.get(b), i == 0))
                print(f"{task_name:14s} {baseline:22s} {rows[-1][2]:6.1f} s  status={res.status.value:7s} "
                      f"score={res.score if res.score is None else round(res.score, 3)}  {a}={res.metrics.get(a, float('nan')):.4g}  "
                      f"{b}={res.metrics.get(b, float('nan')):.4g}" + ("  (includes model loading)" if i == 0 else ""),
                      flush=True)
        finally:
            await sandbox.close()
    return rows


def overhead(repeats: int = 3) -> None:
    torch.set_num_threads(1)
    generator, verifier = shared_model("generator", "cpu"), shared_model("verifier", "cpu")
    target, draft = shared_model("target", "cpu"), shared_model("draft", "cpu")
    problems = arith.problems(7, 2)
    text = corpus.encode(corpus.splits()[1][:48])

    def workload(meter: Meter) -> None:
        gen = torch.Generator().manual_seed(0)
        for p in problems:  # best-of-8 + verifier, 8 problems
            (samples,) = continue_batch(generator, meter, "generator", [arith.prompt_tokens(p)], 8,
                                        boundaries=arith.BOUNDARIES, eos=arith.EOS, steps=0, generator=gen)
            prompt = arith.prompt_tokens(p)
            solution_probabilities(verifier, meter, "verifier", [prompt + s.tokens for s in samples],
                                   [len(prompt)] * len(samples), pad=arith.PAD)
        for lm in (target, draft):  # 64 one-token KV-cached decoding steps on each text model
            cache = lm.new_cache()
            meter.forward("text", lm, torch.tensor([text]), cache, last_only=True)
            for _ in range(64):
                meter.forward("text", lm, torch.tensor([[5]]), cache, last_only=True)

    warm: dict = {}
    modes = {"no counter": lambda: Meter(count=False), "FlopCounterMode every call": lambda: Meter(memo=False),
             "memoised counter, cold": lambda: Meter(memo=True),
             "memoised counter, warm": lambda: Meter(memo=True, known=warm)}
    times = {}
    for name, make in modes.items():
        best = float("inf")
        for _ in range(repeats):
            meter = make()
            started = time.perf_counter()
            workload(meter)
            best = min(best, time.perf_counter() - started)
        times[name] = (best, meter.flops(), sum(t.calls for t in meter.tallies.values()))
    base = times["no counter"][0]
    print(f"\nFLOP-counting overhead ({times['no counter'][2]} forward passes; best of {repeats}; 1 thread):")
    for name, (seconds, flops, _) in times.items():
        print(f"  {name:28s} {seconds * 1e3:8.1f} ms  x{seconds / base:5.2f}  flops counted={flops:.4g}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    names = QUICK if args.quick else {t: list(load_task(t).spec.baselines) for t in QUICK}
    print(f"CPU cores visible: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    asyncio.run(time_baselines(names))
    overhead()
    return 0


if __name__ == "__main__":
    sys.exit(main())
