"""Mutators propose child programs: the offline AST mutator here, LLM mutators beside it."""
from .base import Edit, MutationContext, Mutator, ProgramView
from .offline import OfflineMutator



def build_mutator(config) -> Mutator:
    """The mutator a campaign config asks for."""
    return OfflineMutator(config.operators)


__all__ = ["Edit", "MutationContext", "Mutator", "OfflineMutator", "ProgramView", "build_mutator"]
