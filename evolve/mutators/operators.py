"""Every offline operator, in one explicit list: the AST edits (ast_operators.py), grow_expression
(grow.py) and tune_constants (tuning.py). The list's order is the order of the default weights, which
a seeded campaign's draws depend on: append new operators at the end."""
from .ast_operators import (Operator, crossover_function, crossover_statement, delete_statement, duplicate_statement,
                            negate_condition, perturb_constant, relax_condition, scale_threshold, swap_binop,
                            swap_compare, swap_statements)
from .grow import grow_expression
from .tuning import tune_constants

OPERATORS: dict[str, Operator] = {op.name: op for op in (
    perturb_constant, swap_compare, swap_binop, negate_condition, relax_condition, delete_statement,
    duplicate_statement, swap_statements, crossover_statement, crossover_function, grow_expression, tune_constants,
    scale_threshold)}

# operators that read their parent's earlier children: those that edit a whole program from that history
# (constant tuning) and those that learn from it what to try; the latter also read the campaign's latest
# children by them, of any parent
HISTORY_OPERATORS = tuple(name for name, op in OPERATORS.items() if op.propose is not None or op.learns)
LEARNING_OPERATORS = tuple(name for name, op in OPERATORS.items() if op.learns)


def default_weights() -> dict[str, float]:
    return {name: op.weight for name, op in OPERATORS.items()}


__all__ = ["HISTORY_OPERATORS", "LEARNING_OPERATORS", "OPERATORS", "default_weights"]
