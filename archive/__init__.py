"""The archive: SQLAlchemy models and MAP-Elites/island logic over SQLite (or PostgreSQL)."""
from .archive import Archive, ArchiveError, ArchiveUnusable, PlacementOutcome, close_all
from .mapelites import Axis, Grid
from .sampling import Elite, SamplingWeights
from .states import CampaignState, EvaluationRole, ProgramState

__all__ = ["Archive", "ArchiveError", "ArchiveUnusable", "Axis", "CampaignState", "Elite", "EvaluationRole", "Grid",
           "PlacementOutcome", "ProgramState", "SamplingWeights", "close_all"]
