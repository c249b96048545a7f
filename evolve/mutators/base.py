"""The mutator contract: `Mutator.propose(context) -> Edit`, and everything the loop may ask of a mutator.

A mutator is handed one `MutationContext` per iteration: the parent and inspirations the loop
sampled, a random stream seeded by (campaign seed, iteration), and the archive history it
declared it reads (`history_needs`), loaded by the loop into a read-only `History`. What the
context holds is a function of the iteration alone (evolve/loop/schedule.py), so the same seed
gives the same edits at any concurrency.
"""
from __future__ import annotations

import abc
import dataclasses
import random
import types
from typing import Any, Callable, Mapping


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


@dataclasses.dataclass(frozen=True)
class HistoryNeeds:
    """Which archive history a mutator reads; the loop loads exactly this (each kind costs a query)."""
    parent_children: tuple[str, ...] = ()    # operators whose earlier children of the parent it reads
    campaign_children: tuple[str, ...] = ()  # operators whose latest children of any parent it reads
    operator_states: bool = False            # how each operator's children ended, per parent and campaign-wide

    @property
    def any(self) -> bool:
        return bool(self.parent_children or self.campaign_children or self.operator_states)


_EMPTY: Mapping[str, Mapping[str, int]] = types.MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class History:
    """The archive history a mutator declared it needs, as the iteration's horizon sees it.

    Each child is a dict {"program_id", "iteration", "parent_id", "operator", "state", "edit",
    "status", "score", "outcome_state", "stage", "parent_score"} (archive/views.py `children_by_operator`);
    status, score and outcome are those of the program it duplicates for a duplicate, and None / pending
    while the horizon has not decided it.
    """
    parent_children: tuple[dict[str, Any], ...] = ()    # the parent's children, by iteration
    campaign_children: tuple[dict[str, Any], ...] = ()  # the campaign's latest children, newest first
    # {operator: {state: count}} of the parent's children, and the same over the campaign
    parent_states: Mapping[str, Mapping[str, int]] = dataclasses.field(default_factory=lambda: _EMPTY)
    campaign_states: Mapping[str, Mapping[str, int]] = dataclasses.field(default_factory=lambda: _EMPTY)

    def children(self, operator: str) -> list[dict[str, Any]]:
        """The parent's earlier children by `operator`, oldest first."""
        return [c for c in self.parent_children if c["operator"] == operator]

    def campaign(self, operator: str) -> list[dict[str, Any]]:
        """The campaign's latest children by `operator`, of any parent, newest first."""
        return [c for c in self.campaign_children if c["operator"] == operator]


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
    # True when a program with this normalised hash is among the proposals the iteration sees; cheap
    # mutators use it to try again instead of proposing a duplicate.
    is_known: Callable[[str], bool] | None = None
    history: History = dataclasses.field(default_factory=History)
    # the horizon's last decided iteration: what an LLM client may learn from (archive/horizon.py)
    decided_through: int | None = None


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


class Mutator(abc.ABC):
    """Proposes children. Subclasses implement `propose`; every other member has a documented default.

    The loop calls `propose` once per iteration, possibly many at once (`sees_earlier_proposals`
    False), and never from two threads.
    """

    name: str = "mutator"

    # True: iteration i's context includes every proposal of iterations before i, so proposals are made one
    # at a time in iteration order. Right for a mutator that computes in this process (nothing to overlap)
    # and wants to know what it just proposed. False: iteration i sees proposals only up to its decided
    # horizon, and up to `lag` proposals run at once (LLM calls).
    sees_earlier_proposals: bool = True

    def history_needs(self) -> HistoryNeeds:
        """The archive history `propose` reads from `context.history` (default: none)."""
        return HistoryNeeds()

    @property
    def rate_limited(self) -> int:
        """How many rate-limit answers (HTTP 429) the mutator's calls have met so far; the loop's proposal
        window shrinks on each new one (default: 0, a mutator that calls no server)."""
        return 0

    async def calls_affordable(self) -> int | None:
        """How many more proposals the remaining budget pays for (None: unbounded, the default)."""
        return None

    @abc.abstractmethod
    async def propose(self, context: MutationContext) -> Edit:
        """A child of `context.parent` (Edit.code None with Edit.error when none could be made). May raise
        StopCampaign (stop cleanly) or MutatorFailed (no edit can ever be made)."""

    async def close(self) -> None:
        """Release what the mutator holds (HTTP clients); the default holds nothing."""
        return None
