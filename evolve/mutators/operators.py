"""Every offline operator, registered: the AST edits of ast_operators.py, then grow_expression (grow.py)
and tune_constants (tuning.py), which build on it. Read OPERATORS from here, never from ast_operators
alone: that registry lacks the two until they are imported, and the order they register in is the
order of the default weights, which a seeded campaign's draws depend on."""
from . import grow, tuning  # noqa: F401  (each registers its operator on import)
from .ast_operators import OPERATORS, default_weights

__all__ = ["OPERATORS", "default_weights"]
