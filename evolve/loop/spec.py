"""What the loop runs: one campaign, fixed before it starts."""
from __future__ import annotations

import dataclasses

from archive import Archive, Grid
from evaluators.task import Task
from sandbox import Limits

from ..config import CampaignConfig


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything the controller needs of a campaign: where it is stored, its validated config, its task,
    its MAP-Elites grid and the limits every evaluation runs under."""
    archive: Archive
    campaign_id: int
    config: CampaignConfig
    task: Task
    grid: Grid
    limits: Limits
