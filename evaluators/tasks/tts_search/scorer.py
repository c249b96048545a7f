"""Trusted scorer for test-time search: accuracy and FLOPs of a search policy.

For each problem the candidate's `search(problem, lm)` runs once (through adapter.run_search);
`lm` is a SearchLM living here, so every generator and verifier forward pass runs and is
counted on this side. A problem is correct when the returned answer equals the true answer
and the policy stayed within the problem's FLOPs budget.
"""
from __future__ import annotations

import math
import time
import zlib

import numpy as np

from evaluators.api import Candidate, CandidateError, EvalContext, InvalidOutput, Status
from evaluators.tasks.models.registry import pick_device, shared_model

from .problems import problem_set
from .service import SearchLM

FLOPS_BUDGET = 1.0e10         # per problem, generator + verifier
MAX_ANSWER = 10**9


# FLOPs per forward-pass shape, counted once per worker process by FlopCounterMode (flops.Meter).
_COUNTED_SHAPES: dict = {}

def _models(device: str):
    return shared_model("generator", device), shared_model("verifier", device)


def _problem_seed(split: str, index: int) -> int:
    return zlib.crc32(f"tts_search/{split}/{index}".encode())


def check_answer(answer, index: int):
    if answer is None:
        return None
    if type(answer) is not int or abs(answer) > MAX_ANSWER:
        raise InvalidOutput(f"problem {index}: search returned {str(answer)[:60]!r} "
                            "({type(answer).__name__}); expected an int or None")
    return answer


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    device = str(pick_device(ctx.options.get("device", "auto")))
    generator, verifier = _models(device)
    problems = problem_set(split)[:int(ctx.options.get("limit", 10**9))]
    budget = float(ctx.options.get("flops_budget", FLOPS_BUDGET))
    known = _COUNTED_SHAPES
    rows = []
    started = time.perf_counter()
    for index, problem in enumerate(problems):
        lm = SearchLM(problem, generator, verifier, budget, _problem_seed(split, index), known)
        info = {"id": index, "level": problem.level, "n_ops": len(problem.ops), "root": 0, "budget": budget}
        try:
            answer = check_answer(candidate.call(info, lm, fn="run_search", services={"lm": lm}), index)
        except CandidateError as exc:
            # A policy that lets the budget refusal propagate loses this problem, not the evaluation.
            if not (lm.exceeded and exc.status == Status.CRASHED):
                raise
            answer = None
        tallies = lm.meter.tallies
        rows.append({"level": problem.level, "correct": (not lm.exceeded) and answer == problem.answer,
                     "exceeded": lm.exceeded, "answered": answer is not None,
                     "gen": lm.meter.flops("generator"), "ver": lm.meter.flops("verifier"),
                     "seconds": sum(t.seconds for t in tallies.values()),
                     "gen_calls": tallies["generator"].calls if "generator" in tallies else 0,
                     "ver_calls": tallies["verifier"].calls if "verifier" in tallies else 0})
    return report(rows, device, time.perf_counter() - started)


def report(rows: list[dict], device: str, seconds: float) -> dict:
    acc = float(np.mean([r["correct"] for r in rows]))
    gen = float(np.mean([r["gen"] for r in rows]))
    ver = float(np.mean([r["ver"] for r in rows]))
    metrics = {
        "accuracy": acc,
        "flops_per_problem": gen + ver,
        "log10_flops_per_problem": math.log10(max(gen + ver, 1.0)),
        "generator_flops_per_problem": gen,
        "verifier_flops_per_problem": ver,
        "budget_exceeded_fraction": float(np.mean([r["exceeded"] for r in rows])),
        "answered_fraction": float(np.mean([r["answered"] for r in rows])),
        "generator_forward_passes_per_problem": float(np.mean([r["gen_calls"] for r in rows])),
        "verifier_forward_passes_per_problem": float(np.mean([r["ver_calls"] for r in rows])),
        f"model_seconds_{device.split(':')[0]}": float(sum(r["seconds"] for r in rows)),
        "scorer_seconds": seconds,
    }
    for level in sorted({r["level"] for r in rows}):
        metrics[f"accuracy_level{level}"] = float(np.mean([r["correct"] for r in rows if r["level"] == level]))
    wrong = [(i, r) for i, r in enumerate(rows) if not r["correct"]]
    return {
        "score": 100.0 * acc,
        "metrics": metrics,
        "artifacts": {"failed_problems": [{"problem": i, "level": r["level"], "exceeded_budget": r["exceeded"],
                                           "answered": r["answered"], "flops": r["gen"] + r["ver"]}
                                          for i, r in wrong[:5]]},
    }
