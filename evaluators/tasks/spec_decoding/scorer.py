"""Trusted scorer for speculative decoding: lossless output, target passes and FLOPs per token.

For each prompt the candidate's `speculate(lm, n_new)` drives a SpecSession (session.py): it
asks the draft for tokens and the target to verify proposals. The scorer then checks that the
tokens the candidate returns equal, token for token, both the tokens the target committed in
the session and the target's own plain greedy continuation (computed here without the
candidate). Any mismatch makes the evaluation invalid.

The models run in float64 here so that verifying k tokens in one pass and decoding them one at
a time pick the same argmax (float32 chunked and incremental matmuls differ in the last bits).

Speedup uses the cost model in costs.py: plain decoding costs n_new target calls feeding one
token; speculative decoding costs the measured price of each draft and target call it made.
"""
from __future__ import annotations

import functools
import time

import numpy as np

from evaluators.api import Candidate, EvalContext, InvalidOutput
from evaluators.tasks.models import corpus
from evaluators.tasks.models.flops import Meter
from evaluators.tasks.models.registry import load_model, pick_device

from .costs import call_cost, cost_table
from .prompts import n_new as split_n_new
from .prompts import prompt_set
from .session import SpecSession, greedy_reference


@functools.lru_cache(maxsize=None)
def spec_models(device: str):
    return load_model("target", device).double(), load_model("draft", device).double()


@functools.lru_cache(maxsize=None)
def references(split: str, device: str) -> tuple[tuple[int, ...], ...]:
    target, _ = spec_models(device)
    return tuple(tuple(greedy_reference(list(p), split_n_new(split), target, Meter(count=False))[0])
                 for p in prompt_set(split))


# FLOPs per forward-pass shape, counted once per worker process by FlopCounterMode (flops.Meter).
_COUNTED_SHAPES: dict = {}

def check_output(output, committed: list[int], reference: tuple[int, ...], n_new: int, index: int) -> None:
    if not isinstance(output, list) or any(type(t) is not int for t in output):
        raise InvalidOutput(f"prompt {index}: speculate must return a list of token ids (ints)")
    if len(output) < n_new:
        raise InvalidOutput(f"prompt {index}: speculate returned {len(output)} tokens; {n_new} are required")
    output = output[:n_new]
    for name, expected in (("the tokens the target verified", committed[:n_new]),
                           ("the target's greedy output", list(reference))):
        if len(expected) < n_new or output != expected:
            where = next((i for i, (a, b) in enumerate(zip(output, expected)) if a != b), min(len(expected), n_new))
            raise InvalidOutput(f"prompt {index}: output differs from {name} at token {where}: "
                                "speculative decoding must be lossless")


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    device = str(pick_device(ctx.options.get("device", "auto")))
    target, draft = spec_models(device)
    limit = int(ctx.options.get("limit", 10**9))
    prompts, refs, n_new = prompt_set(split)[:limit], references(split, device)[:limit], split_n_new(split)
    table = cost_table(device)
    known = _COUNTED_SHAPES
    totals = {"target_calls": 0, "draft_calls": 0, "target_flops": 0, "draft_flops": 0, "proposed": 0,
              "accepted": 0, "rounds": 0, "cost": 0.0, "seconds": 0.0}
    per_prompt = []
    started = time.perf_counter()
    for index, prompt in enumerate(prompts):
        session = SpecSession(list(prompt), n_new, target, draft, known, corpus.VOCAB_SIZE)
        output = candidate.call(session, n_new, fn="run_speculate", services={"lm": session})
        check_output(output, session.committed, refs[index], n_new, index)
        calls = session.calls[session.prefill_calls:]
        cost = sum(call_cost(table, model, fed) for model, fed in calls)
        used = session.meter.snapshot()
        for model in ("target", "draft"):
            totals[f"{model}_calls"] += sum(1 for m, _ in calls if m == model)
            totals[f"{model}_flops"] += used.get(model, {}).get("flops", 0) - session.prefill.get(model, {}).get("flops", 0)
        totals["seconds"] += sum(t["seconds"] for t in used.values())
        totals["proposed"] += sum(p for p, _ in session.rounds)
        totals["accepted"] += sum(a for _, a in session.rounds)
        totals["rounds"] += len(session.rounds)
        totals["cost"] += cost
        per_prompt.append(n_new * call_cost(table, "target", 1) / cost)
    tokens = n_new * len(prompts)
    plain = tokens * call_cost(table, "target", 1)
    metrics = {
        "exact": 1.0,
        "speedup": plain / totals["cost"],
        "target_calls_per_token": totals["target_calls"] / tokens,
        "draft_calls_per_token": totals["draft_calls"] / tokens,
        "flops_per_token": (totals["target_flops"] + totals["draft_flops"]) / tokens,
        "target_flops_per_token": totals["target_flops"] / tokens,
        "draft_flops_per_token": totals["draft_flops"] / tokens,
        "acceptance_rate": totals["accepted"] / totals["proposed"] if totals["proposed"] else 0.0,
        "tokens_per_round": tokens / max(1, totals["rounds"]),
        "proposed_per_round": totals["proposed"] / max(1, totals["rounds"]),
        f"model_seconds_{device.split(':')[0]}": totals["seconds"],
        "scorer_seconds": time.perf_counter() - started,
    }
    order = np.argsort(per_prompt)
    return {"score": metrics["speedup"], "metrics": metrics,
            "artifacts": {"slowest_prompts": [{"prompt": int(i), "speedup": round(per_prompt[i], 3)} for i in order[:3]]}}
