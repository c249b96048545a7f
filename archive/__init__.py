"""The archive: SQLAlchemy models and MAP-Elites/island logic over SQLite (or PostgreSQL)."""
from .archive import Archive, ArchiveError, PlacementOutcome
from .mapelites import Axis, Grid
from .sampling import Elite, SamplingWeights

__all__ = ["Archive", "ArchiveError", "Axis", "Elite", "Grid", "PlacementOutcome", "SamplingWeights"]
