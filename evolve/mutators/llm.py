"""LLM mutators: diff, full rewrite and crossover through the ensemble client, and the operator mix.

One proposal = render the prompt, ask a model, parse and apply the answer, check the child; on a
failed apply (or a truncated answer) ask again with the error in the conversation, at most
`llm_options.edit_retries` times. Every answer is logged with its outcome; the Edit records the
parsed edit and the ids of the calls that produced it.
"""
from __future__ import annotations

import re
from typing import Any

from evaluators.task import Task

from ..config import CampaignConfig, MixConfig
from .base import Edit, HistoryNeeds, MutationContext, Mutator, MutatorFailed, ProgramView
from .client import BudgetExhausted, CallLog, LLMClient
from .edits import EditError, apply_diff, apply_rewrite, check_program, parse_diff, parse_rewrite
from .offline import OfflineMutator
from .prompts import PromptError, Prompts
from .providers import CallFailure

_EDIT_START = re.compile(r"^[ \t]*(<{5,9}[ \t]*SEARCH|```)", re.MULTILINE)


def _program(view: ProgramView, numbers: dict[int, int]) -> dict[str, Any]:
    return {"id": numbers.get(view.id, view.id), "code": view.code, "score": view.score, "metrics": view.metrics,
            "artifacts": view.artifacts, "generation": view.generation, "island": view.island,
            "operator": view.operator, "cell": view.cell}


def _task(task: Task) -> dict[str, Any]:
    spec = task.spec
    return {"name": spec.name, "description": spec.description, "entry_point": spec.entry_point,
            "entry_kind": spec.entry_kind, "signature": spec.signature, "score": spec.score,
            "metrics": {name: m.model_dump() for name, m in spec.metrics.items()}}


def _description(text: str) -> str:
    match = _EDIT_START.search(text)
    head = (text[:match.start()] if match else text).strip()
    return " ".join(head.split())[:300]


class LLMMutator:
    """diff / full_rewrite / crossover proposals from an ensemble of models: MixMutator's LLM half."""
    name = "llm"

    def __init__(self, config: CampaignConfig, log: CallLog, prompts: Prompts | None = None):
        self.prompts = prompts or Prompts(config.llm_options.templates)
        self.client = LLMClient(config, log)
        self.edit_retries = config.llm_options.edit_retries

    def context(self, ctx: MutationContext, operator: str, other: ProgramView | None,
                numbers: dict[int, int] | None = None) -> dict[str, Any]:
        """The templates' variables. A program's `id` there is its number in the campaign (the iteration that
        made it, 0 for the seed), not its archive row id: the same campaign gets the same prompts in any
        archive, which is what lets `evolve run --replay` match them."""
        numbers = numbers or {}
        inspirations = [i for i in ctx.inspirations if other is None or i.id != other.id]
        recent = [{**r, **{k: numbers.get(r[k], r[k]) for k in ("program_id", "parent_id") if r.get(k) is not None}}
                  for r in ctx.recent]
        return {"task": _task(ctx.task), "parent": _program(ctx.parent, numbers),
                "other": _program(other, numbers) if other else None,
                "inspirations": [_program(i, numbers) for i in inspirations], "recent": recent,
                "empty_cells": ctx.empty_cells, "descriptor_names": ctx.descriptor_names, "operator": operator,
                "iteration": ctx.iteration}

    async def propose(self, ctx: MutationContext, operator: str = "diff") -> Edit:
        other = None
        if operator == "crossover":
            if not ctx.inspirations:
                operator = "diff"
            else:
                other = ctx.rng.choice(ctx.inspirations)
        shown = [ctx.parent.id, *(i.id for i in ctx.inspirations),
                 *(r[k] for r in ctx.recent for k in ("program_id", "parent_id") if r.get(k) is not None)]
        variables = self.context(ctx, operator, other, await self.client.log.program_numbers(shown))
        try:
            system = self.prompts.render("system", **variables)
            messages = [{"role": "user", "content": self.prompts.render(operator, **variables)}]
        except PromptError as exc:
            raise MutatorFailed(str(exc)) from None
        calls: list[int] = []
        model, error, outcome = "llm", "no answer", "edit_error"
        for round_index in range(self.edit_retries + 1):
            try:
                answer = await self.client.ask(ctx.rng, system, messages, iteration=ctx.iteration, operator=operator)
            except BudgetExhausted as exc:
                if round_index == 0:
                    raise
                error = f"{error}; no retry: {exc}"  # the next proposal stops the campaign
                break
            except CallFailure as failure:
                model, error, outcome = model, failure.message, failure.outcome
                break
            model = answer.slot.config.name
            reply = answer.reply
            try:
                if reply.stop == "refusal":
                    raise EditError("refused", f"the model refused: {reply.text.strip()[:200]!r}")
                if reply.stop == "length":
                    raise EditError("truncated", f"the answer was cut off at max_tokens "
                                                 f"({answer.slot.config.max_tokens}); no edit was applied")
                applied = self._apply(operator, reply.text, ctx)
                check_program(applied.code, ctx.parent.code, ctx.task.entry_point)
            except EditError as exc:
                outcome = {"refused": "refused", "truncated": "truncated"}.get(exc.kind, "edit_error")
                error = str(exc)
                calls.append(await self.client.record(answer, outcome, error))
                if exc.kind == "refused":
                    break
                try:
                    feedback = self.prompts.render("retry", **variables, error=error, truncated=exc.kind == "truncated")
                except PromptError as bad:
                    raise MutatorFailed(str(bad)) from None
                messages = [*messages, {"role": "assistant", "content": reply.text or "(empty answer)"},
                            {"role": "user", "content": feedback}]
                continue
            calls.append(await self.client.record(answer, "ok", None))
            return Edit(code=applied.code, mutator=model, operator=operator, description=_description(reply.text),
                        crossover_id=other.id if other else None,
                        details={"calls": calls, "rounds": round_index + 1, **applied.summary,
                                 "response_id": reply.response_id})
        return Edit(code=None, mutator=model, operator=operator, error=error,
                    crossover_id=other.id if other else None,
                    details={"calls": calls, "rounds": len(calls), "outcome": outcome})

    @staticmethod
    def _apply(operator: str, text: str, ctx: MutationContext):
        if operator == "diff":
            blocks = parse_diff(text)
            applied = apply_diff(ctx.parent.code, blocks)
            applied.summary["edit"] = [{"search": b.search[:2000], "replace": b.replace[:2000]} for b in blocks]
            return applied
        return apply_rewrite(ctx.parent.code, parse_rewrite(text))

    async def close(self) -> None:
        await self.client.close()


class MixMutator(Mutator):
    """Per proposal, one operator drawn from the campaign's mix: an LLM diff / full rewrite / crossover,
    or an offline AST edit (cheap constant tuning of LLM-written elites). Up to `lag` proposals are
    LLM calls at once, so each sees earlier proposals only up to its decided horizon."""
    name = "mix"
    sees_earlier_proposals = False

    def __init__(self, mix: MixConfig, llm: LLMMutator, offline: OfflineMutator):
        self.mix = mix
        self.llm = llm
        self.offline = offline
        self.operators = [op for op in ("diff", "full_rewrite", "crossover", "offline") if getattr(mix, op) > 0]
        self.weights = [getattr(mix, op) for op in self.operators]

    def history_needs(self) -> HistoryNeeds:
        """Only offline edits (tune_constants, grow_expression) read the archive's history."""
        return self.offline.history_needs() if "offline" in self.operators else HistoryNeeds()

    @property
    def rate_limited(self) -> int:
        return self.llm.client.rate_limited

    async def calls_affordable(self) -> int | None:
        return await self.llm.client.calls_affordable()

    async def propose(self, ctx: MutationContext) -> Edit:
        await self.llm.client.check_budget()  # at the cap the campaign stops, offline edits included
        operator = ctx.rng.choices(self.operators, weights=self.weights)[0]
        if operator == "offline":
            return await self.offline.propose(ctx)
        return await self.llm.propose(ctx, operator)

    async def close(self) -> None:
        await self.llm.close()
