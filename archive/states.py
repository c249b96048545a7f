"""The states a campaign, a program and an evaluation's role can be in; stored as their values."""
from __future__ import annotations

import enum


class CampaignState(str, enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"    # asked to stop; finishes the evaluations in flight
    STOPPED = "stopped"      # interrupted or stopped early; `evolve resume` continues it
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """A process claims the campaign (it may have died: check its liveness)."""
        return self in ACTIVE_STATES

    @property
    def ended(self) -> bool:
        return self in (CampaignState.STOPPED, CampaignState.FINISHED, CampaignState.FAILED)


ACTIVE_STATES = frozenset({CampaignState.RUNNING, CampaignState.STOPPING})


class ProgramState(str, enum.Enum):
    PENDING = "pending"          # stored, waiting for (or in) its training evaluation
    EVALUATED = "evaluated"      # its training evaluation is stored (ok or not)
    DUPLICATE = "duplicate"      # same normalized code as an earlier program; never evaluated
    FUNCTIONAL_DUPLICATE = "functional_duplicate"  # same outputs on the task's probe inputs as an earlier program
    CUT = "cut"                  # stopped by a cascade stage; never competes for a cell
    FAILED_EDIT = "failed_edit"  # the mutator produced no program


# Programs whose code counts as known: a later identical child is a duplicate of them.
KNOWN_PROGRAM_STATES = (ProgramState.PENDING, ProgramState.EVALUATED, ProgramState.CUT,
                        ProgramState.FUNCTIONAL_DUPLICATE)


class EvaluationRole(str, enum.Enum):
    TRAIN = "train"      # the verdict: placed the program in the archive, or the failure that ended it; immutable
    STAGE = "stage"      # a cascade stage or the probe run before the verdict; may only reject
    VALIDATION = "validation"  # chooses what the campaign hands the user among its top training programs; never
                               # read by the search, never redone
    REPORT = "report"    # held-out / leaderboard reporting; never competes, may be redone
