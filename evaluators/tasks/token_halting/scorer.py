"""Trusted scorer for token halting: perplexity and exact FLOPs of the deep model under a policy.

The candidate's `halt(layer, tokens)` is called once per (position, layer >= 1) with the
features of the still-active tokens at that position (simulator.py); it answers one bool per
token. The scorer checks every answer, decodes the split's streams with the policy applied,
and compares with the same decode without halting (computed here, cached per worker):

  ppl_increase_pct  100 * (perplexity / perplexity without halting - 1)
  flops_saved_pct   100 * (1 - FLOPs / FLOPs without halting), FLOPs counted by flops.py
  score             flops_saved_pct while ppl_increase_pct <= PPL_BUDGET_PCT; past the budget
                    it falls by OVER_BUDGET_PENALTY points per point of perplexity over it

FLOPs are counted from the layers each token ran (integers), so they are the same whichever
device ran the model; the perplexity can differ in the last digits between devices.
"""
from __future__ import annotations

import functools
import math

import torch

from evaluators.api import Candidate, EvalContext, InvalidOutput
from evaluators.tasks.models.registry import load_model, pick_device

from . import flops, texts
from .simulator import Outcome, decode

MODEL = "deep"
PPL_BUDGET_PCT = 5.0
OVER_BUDGET_PENALTY = 10.0


@functools.lru_cache(maxsize=None)
def halting_model(device: str):
    return load_model(MODEL, device)


def split_streams(split: str, limit: int | None = None) -> torch.Tensor:
    ids = texts.streams(split)
    return ids if limit is None else ids[:limit]


@functools.lru_cache(maxsize=None)
def reference(split: str, device: str, limit: int | None = None) -> Outcome:
    return decode(halting_model(device), split_streams(split, limit))


def check_decisions(answer, n: int, layer: int, position: int) -> list[bool]:
    if not isinstance(answer, (list, tuple)) or len(answer) != n:
        got = f"{len(answer)} values" if isinstance(answer, (list, tuple)) else type(answer).__name__
        raise InvalidOutput(f"halt(layer={layer}) at position {position} must return a list of {n} bools "
                            f"(one per token shown); got {got}")
    out = []
    for value in answer:
        if type(value) is bool or (type(value) is int and value in (0, 1)):
            out.append(bool(value))
        else:
            raise InvalidOutput(f"halt(layer={layer}) at position {position} returned {value!r}; "
                                "each decision must be True/False (or 1/0)")
    return out


def score_of(ppl_increase_pct: float, flops_saved_pct: float) -> float:
    over = max(0.0, ppl_increase_pct - PPL_BUDGET_PCT)
    return flops_saved_pct - OVER_BUDGET_PENALTY * over


def summarize(cfg, outcome: Outcome, base: Outcome) -> dict:
    ppl = math.exp(float(outcome.nll.mean()))
    base_ppl = math.exp(float(base.nll.mean()))
    used = flops.total_flops(cfg, outcome.layers_run.tolist())
    full = flops.total_flops(cfg, base.layers_run.tolist())
    tokens = outcome.nll.numel()
    accuracy, base_accuracy = float(outcome.correct.float().mean()), float(base.correct.float().mean())
    ppl_increase = 100.0 * (ppl / base_ppl - 1.0)
    saved = 100.0 * (1.0 - used / full)
    return {
        "score": score_of(ppl_increase, saved),
        "ppl_increase_pct": ppl_increase,
        "flops_saved_pct": saved,
        "perplexity": ppl,
        "base_perplexity": base_ppl,
        "accuracy": accuracy,
        "accuracy_drop_pct": 100.0 * (base_accuracy - accuracy),
        "flops_per_token": used / tokens,
        "mean_layers_run": float(outcome.layers_run.float().mean()),
        "halted_fraction": float((outcome.layers_run < cfg.n_layers).float().mean()),
    }


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    torch.set_num_threads(1)  # matrices of width 64: one thread is fastest and keeps runs reproducible
    device = str(pick_device(ctx.options.get("device", ctx.task.spec.device or "auto")))
    limit = ctx.options.get("limit")
    limit = None if limit is None else int(limit)
    model = halting_model(device)

    def policy(layer: int, tokens: dict) -> list[bool]:
        return check_decisions(candidate.call(layer, tokens), len(tokens["stream"]), layer, tokens["position"])

    outcome = decode(model, split_streams(split, limit), policy)
    metrics = summarize(model.cfg, outcome, reference(split, device, limit))
    score = metrics.pop("score")
    metrics["policy_calls"] = outcome.policy_calls
    metrics[f"model_seconds_{device.split(':')[0]}"] = outcome.seconds
    halted_at = torch.bincount(outcome.layers_run.flatten(), minlength=model.cfg.n_layers + 1).tolist()
    worst = (outcome.nll.mean(1) - reference(split, device, limit).nll.mean(1)).argsort(descending=True)[:3]
    return {"score": score, "metrics": metrics,
            "artifacts": {"tokens_by_layers_run": {str(i): n for i, n in enumerate(halted_at) if n},
                          "ppl_budget_pct": PPL_BUDGET_PCT,
                          "most_hurt_streams": [int(i) for i in worst]}}
