"""The loop's one way to run an evaluation: the executor, under the run's limits, with failures sorted.

A failure that is the candidate's is a result (crashed, timeout, ...). An executor error that is
not (a broken worker, a lost connection) is recorded as a crash of that evaluation: the campaign
goes on. Only `SandboxUnavailable` — no evaluation can run at all — ends the campaign.
"""
from __future__ import annotations

from typing import Any

from evaluators.contract import EvaluationResult, Executor, Status
from evaluators.task import Task
from sandbox import Limits, SandboxUnavailable

from ..errors import CampaignFailed
from .concurrency import ProposalWindow


class Evaluator:
    def __init__(self, executor: Executor, task: Task, limits: Limits, window: ProposalWindow):
        self.executor = executor
        self.task = task
        self.limits = limits
        self.window = window  # learns how long evaluations take, to size the proposals in flight

    async def evaluate(self, code: str, split: str, options: dict[str, Any] | None = None) -> EvaluationResult:
        try:
            result = await self.executor.evaluate(self.task, code, self.limits, split=split, options=options)
        except SandboxUnavailable as exc:
            raise CampaignFailed(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - an infrastructure failure is recorded, never fatal to the campaign
            return EvaluationResult.failure(Status.CRASHED, f"executor error: {type(exc).__name__}: {exc}")
        self.window.evaluation_done(result.wall_time)
        return result
