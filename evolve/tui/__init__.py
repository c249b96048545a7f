"""The Textual TUI: a live view on the archive. Campaigns run in their own processes."""
from .app import EvolveApp

__all__ = ["EvolveApp"]
