"""What a scorer imports: the candidate handle, the errors it may raise, and its context.

A scorer module defines::

    def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict

returning {"score": float (higher is better), "metrics": {...}, "artifacts": {...}}.
Raise InvalidOutput when the candidate's decisions fail validation; let CandidateError
propagate (the worker records the right status). A CandidateError's `status` is the sandbox's
plain string; compare it with `==` (`exc.status == Status.TIMEOUT`), not `is`.
"""
from __future__ import annotations

import dataclasses

from sandbox.candidate import Candidate, CandidateError, ServiceRefusal
from sandbox.limits import Limits

from .contract import EvaluationResult, Status
from .task import Task

__all__ = ["Candidate", "CandidateError", "EvalContext", "EvaluationResult", "InvalidOutput", "Limits",
           "ServiceRefusal", "Status"]


class InvalidOutput(Exception):
    """The candidate returned something the scorer cannot accept (wrong shape, NaN, infeasible)."""


@dataclasses.dataclass
class EvalContext:
    task: Task
    split: str
    limits: Limits
    options: dict = dataclasses.field(default_factory=dict)
