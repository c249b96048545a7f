"""The mutator contract: `propose(context) -> Edit`."""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Protocol


@dataclasses.dataclass(frozen=True)
class ProgramView:
    """What a mutator may know about an archived program."""
    id: int
    code: str
    score: float | None
    metrics: dict[str, Any]
    artifacts: dict[str, Any]
    generation: int
    island: int
    operator: str = ""
    cell: str | None = None


@dataclasses.dataclass
class MutationContext:
    task: Any                        # evaluators.task.Task
    parent: ProgramView
    inspirations: list[ProgramView]
    rng: random.Random               # seeded per iteration: same seed, same edit
    iteration: int
    recent: list[dict[str, Any]] = dataclasses.field(default_factory=list)   # recent attempts and outcomes
    empty_cells: list[str] = dataclasses.field(default_factory=list)          # exploration hint
    descriptor_names: list[str] = dataclasses.field(default_factory=list)
    # True when a program with this normalised hash is already in the campaign; cheap mutators
    # use it to try again instead of proposing a duplicate.
    is_known: Callable[[str], bool] | None = None
    # children_of(parent_id, operator): that parent's children by that operator, by iteration, each
    # {"program_id", "iteration", "state", "edit", "status", "score"} (status None while pending).
    # Stateful operators (tune_constants) rebuild their state from it, so a resume continues them.
    children_of: Callable[[int, str], list[dict[str, Any]]] | None = None
    # campaign_children(operator): the campaign's latest children by that operator, of any parent, newest
    # first, as children_of gives them (each also names its "parent_id"); what learning operators know of
    # the task as a whole.
    campaign_children: Callable[[str], list[dict[str, Any]]] | None = None
    # {operator: {state: count}}: how the parent's children by each operator ended so far, and the campaign's
    child_states: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    campaign_states: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Edit:
    """A proposed child. `code` is None when the mutator failed; `error` then says why."""
    code: str | None
    mutator: str                     # e.g. "offline", "openai:gpt-4o-mini"
    operator: str                    # e.g. "perturb_constant", "diff", "full_rewrite"
    description: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    crossover_id: int | None = None  # the inspiration used, for crossover operators

    def record(self) -> dict[str, Any]:
        return {"mutator": self.mutator, "operator": self.operator, "description": self.description,
                "details": self.details, "error": self.error, "crossover_id": self.crossover_id}


class StopCampaign(Exception):
    """Raised by `propose` when the campaign must stop cleanly (e.g. the LLM budget is spent).
    The controller starts no new iterations, finishes the work in flight and records the message."""


class MutatorFailed(RuntimeError):
    """Raised by `propose` when no further edit can ever be produced (every model refuses the key,
    a prompt template is broken). The campaign fails with this one-line message."""


class Mutator(Protocol):
    name: str

    async def propose(self, context: MutationContext) -> Edit: ...

    async def close(self) -> None: ...
