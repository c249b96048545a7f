"""Trusted scorer of the hostile-probe task: three single calls, then one batch call."""
from __future__ import annotations

import json
import math
from pathlib import Path

from evaluators.api import Candidate, EvalContext, InvalidOutput

WORKLOAD = Path(__file__).with_name("workload.json")


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    xs = json.loads(WORKLOAD.read_text())[split]
    answers = [candidate.call(x) for x in xs[:3]] + candidate.batch([[x] for x in xs[3:]])
    correct = 0
    for x, answer in zip(xs, answers):
        if type(answer) not in (int, float):
            raise InvalidOutput(f"answer for x={x} is a {type(answer).__name__}, not a number")
        if not math.isfinite(answer):
            raise InvalidOutput(f"answer for x={x} is not finite")
        correct += answer == 2 * x
    return {"score": float(correct), "metrics": {"correct": correct, "calls": len(xs)}}
