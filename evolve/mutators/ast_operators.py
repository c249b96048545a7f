"""The offline mutator's AST operators: one small function per operator, declared as an `Operator`.

Each operator edits a block's AST in place and returns a description of what it did, or None
when it does not apply to this tree. Its default weight is the operator's share of offline
edits. The one list of operators (what campaign configs' `operators: {name: weight}` are
validated against) is evolve/mutators/operators.py; grow.py and tuning.py declare theirs too.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import math
import random
from typing import Callable

from .defuse import undefined_names

_COMPARE_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
                  ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq]}
_BINOP_SWAPS = {ast.Add: [ast.Sub, ast.Mult], ast.Sub: [ast.Add, ast.Mult], ast.Mult: [ast.Div, ast.Add],
                ast.Div: [ast.Mult, ast.Sub], ast.Pow: [ast.Mult], ast.Mod: [ast.FloorDiv],
                ast.FloorDiv: [ast.Div, ast.Mod]}
MAX_POSITIONS = 16  # candidate places a statement edit tries before giving up on this tree
_RELAX = {ast.Lt: ast.LtE, ast.Gt: ast.GtE, ast.LtE: ast.Lt, ast.GtE: ast.Gt}


def perturb_number(value: float | int, rng: random.Random) -> float | int:
    """Scale-aware perturbation: multiplicative for large magnitudes, additive near zero."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        step = max(1, round(abs(value) * rng.uniform(0.05, 0.5)))
        new = value + rng.choice([-1, 1]) * step
        return new if new != value else value + 1
    if value == 0 or abs(value) < 1e-12:
        return rng.choice([-1, 1]) * 10 ** rng.uniform(-2, 0)
    if rng.random() < 0.2:
        return -value
    new = value * math.exp(rng.gauss(0.0, 0.35))
    return float(f"{new:.4g}")


class Located:
    """Collects nodes of a block's AST that an operator can act on, and checks an edit keeps def-use intact.

    `history(operator)`: the parent's earlier children by that operator (`History.children`), for
    operators that learn from them; `campaign(operator)`: the campaign's latest children by it, of any
    parent (`History.campaign`). Both are empty when the caller has no archive.
    """

    def __init__(self, tree: ast.Module, outer: frozenset[str] = frozenset(),
                 history: Callable[[str], list[dict]] | None = None,
                 campaign: Callable[[str], list[dict]] | None = None):
        self.campaign = campaign or (lambda operator: [])
        self.constants, self.compares, self.binops, self.conditions, self.bodies = [], [], [], [], []
        self.outer = outer                                  # names bound outside the block (imports, globals)
        self.history = history or (lambda operator: [])
        self.broken = undefined_names(tree, outer)          # already unresolved in the parent: not the edit's fault
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                    and not isinstance(node.value, bool):
                self.constants.append(node)
            elif isinstance(node, ast.Compare):
                self.compares.append(node)
            elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
                self.binops.append(node)
            if isinstance(node, (ast.If, ast.While, ast.IfExp)):
                self.conditions.append(node)
            for field in ("body", "orelse"):
                body = getattr(node, field, None)
                if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                    self.bodies.append(body)

    def resolves(self, tree: ast.Module) -> bool:
        """True when the edited tree reads no name before (or without) binding it, beyond the parent's own."""
        return not (undefined_names(tree, self.outer) - self.broken)


def _first_valid(tree, found, rng, candidates, do, undo):
    """Tries candidate edits in a seeded order; keeps the first whose result resolves every name."""
    candidates = list(candidates)
    rng.shuffle(candidates)
    for candidate in candidates[:MAX_POSITIONS]:
        do(candidate)
        if found.resolves(tree):
            return candidate
        undo(candidate)
    return None


# returns a description of the edit, or (description, details recorded with the child), or None
Apply = Callable[[ast.Module, Located, random.Random, "ast.Module | None"], "str | tuple[str, dict] | None"]


@dataclasses.dataclass(frozen=True)
class Operator:
    name: str
    weight: float          # default share of offline edits
    apply: Apply
    needs_donor: bool = False  # a crossover: needs an inspiration's tree
    learns: bool = False       # reads its parent's earlier children (Located.history) to choose what to try
    # A program-level operator edits the whole program from the parent's history instead of one
    # block's tree: propose(code, rng, context: MutationContext | None) -> (code, description, details) | None
    propose: Callable | None = None


def operator(name: str, weight: float, needs_donor: bool = False, learns: bool = False):
    """Declares a block-level operator: `apply` becomes an Operator (listed in evolve/mutators/operators.py)."""
    def declare(apply: Apply) -> Operator:
        return Operator(name, weight, apply, needs_donor, learns)
    return declare


def program_operator(name: str, weight: float):
    """Declares a program-level operator: `propose` becomes an Operator (listed in operators.py)."""
    def declare(propose: Callable) -> Operator:
        return Operator(name, weight, None, propose=propose)
    return declare


@operator("perturb_constant", 4.0)
def perturb_constant(tree, found, rng, donor):
    if not found.constants:
        return None
    node = rng.choice(found.constants)
    old = node.value
    node.value = perturb_number(old, rng)
    return f"constant {old!r} -> {node.value!r} (line {node.lineno})"


@operator("swap_compare", 1.0)
def swap_compare(tree, found, rng, donor):
    if not found.compares:
        return None
    node = rng.choice(found.compares)
    index = rng.randrange(len(node.ops))
    choices = _COMPARE_SWAPS.get(type(node.ops[index]))
    if not choices:
        return None
    old = type(node.ops[index]).__name__
    node.ops[index] = rng.choice(choices)()
    return f"comparison {old} -> {type(node.ops[index]).__name__} (line {node.lineno})"


@operator("swap_binop", 1.0)
def swap_binop(tree, found, rng, donor):
    if not found.binops:
        return None
    node = rng.choice(found.binops)
    old = type(node.op).__name__
    node.op = rng.choice(_BINOP_SWAPS[type(node.op)])()
    return f"operator {old} -> {type(node.op).__name__} (line {node.lineno})"


@operator("negate_condition", 0.5)
def negate_condition(tree, found, rng, donor):
    if not found.conditions:
        return None
    node = rng.choice(found.conditions)
    node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    return f"negated condition (line {node.lineno})"


@operator("relax_condition", 1.0)
def relax_condition(tree, found, rng, donor):
    if not found.compares:
        return None
    node = rng.choice(found.compares)
    index = rng.randrange(len(node.ops))
    kind = type(node.ops[index])
    if kind in _RELAX and rng.random() < 0.5:
        node.ops[index] = _RELAX[kind]()
        return f"relaxed {kind.__name__} -> {_RELAX[kind].__name__} (line {node.lineno})"
    if kind not in _RELAX or is_categorical(node.comparators[index]):
        return None  # `x == SPOT + 0.7` compares a choice with a number: only ordered numeric thresholds shift
    margin = perturb_number(1.0, rng)
    node.comparators[index] = ast.BinOp(left=node.comparators[index], op=ast.Add(), right=ast.Constant(margin))
    return f"shifted comparison threshold by {margin!r} (line {node.lineno})"


def _scaled(comparator: ast.expr) -> bool:
    """Already `x * constant`: perturb_constant and tune_constants move that constant; no second factor."""
    return isinstance(comparator, ast.BinOp) and isinstance(comparator.op, ast.Mult) \
        and isinstance(comparator.right, ast.Constant)


@operator("scale_threshold", 1.0)
def scale_threshold(tree, found, rng, donor):
    """Moves a decision point in proportion to its own size: `a >= b` becomes `a >= b * 0.8`.

    relax_condition's additive margin of about 1 is lost on thresholds of hundreds (ticks, seconds,
    tokens) and a duplicate on the probe; a factor moves any scale, and its constant is then one
    perturb_constant and tune_constants can refine. Only ordered comparisons against a computed
    value: a literal threshold is perturb_constant's, a categorical one has no scale."""
    places = [(node, i) for node in found.compares for i, op in enumerate(node.ops)
              if type(op) in _RELAX and not isinstance(node.comparators[i], ast.Constant)
              and not is_categorical(node.comparators[i]) and not _scaled(node.comparators[i])]
    if not places:
        return None
    node, index = rng.choice(places)
    factor = float(f"{math.exp(rng.gauss(0.0, 0.3)):.3g}")
    if factor == 1.0:
        factor = rng.choice([0.9, 1.1])
    node.comparators[index] = ast.BinOp(left=node.comparators[index], op=ast.Mult(), right=ast.Constant(factor))
    return f"scaled comparison threshold by {factor!r} (line {node.lineno})"


def _inert(statement: ast.stmt) -> bool:
    """A bare constant (a docstring): duplicating or deleting it changes nothing the program does."""
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _statements(found, min_length: int, skip=(ast.FunctionDef, ast.ClassDef, ast.Return)):
    return [(body, i) for body in found.bodies if len(body) >= min_length
            for i in range(len(body)) if not isinstance(body[i], skip) and not _inert(body[i])]


@operator("delete_statement", 0.7)
def delete_statement(tree, found, rng, donor):
    """Never deletes a statement whose bindings are still read (unless an earlier one binds them too)."""
    removed = {}

    def do(c):
        removed[id(c)] = c[0].pop(c[1])

    def undo(c):
        c[0].insert(c[1], removed.pop(id(c)))
    chosen = _first_valid(tree, found, rng, _statements(found, 2), do, undo)
    if chosen is None:
        return None
    return f"deleted statement at line {removed[id(chosen)].lineno}"


@operator("duplicate_statement", 0.5)
def duplicate_statement(tree, found, rng, donor):
    def do(c):
        c[0].insert(c[1], copy.deepcopy(c[0][c[1]]))

    def undo(c):
        del c[0][c[1]]
    chosen = _first_valid(tree, found, rng, _statements(found, 1), do, undo)
    if chosen is None:
        return None
    return f"duplicated statement at line {chosen[0][chosen[1]].lineno}"


@operator("swap_statements", 0.5)
def swap_statements(tree, found, rng, donor):
    """Swaps two adjacent statements only when no name is then read above its definition."""
    pairs = [(body, i) for body, i in _statements(found, 2)
             if i + 1 < len(body) and not isinstance(body[i + 1], (ast.Return, ast.FunctionDef, ast.ClassDef))]

    def swap(c):
        body, i = c
        body[i], body[i + 1] = body[i + 1], body[i]
    chosen = _first_valid(tree, found, rng, pairs, swap, swap)
    if chosen is None:
        return None
    body, index = chosen
    return f"swapped statements at lines {body[index + 1].lineno} and {body[index].lineno}"


def is_categorical(value: ast.expr) -> bool:
    """A returned value that names a choice: a string, an UPPER_CASE constant, or a conditional between such."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str)
    if isinstance(value, ast.Name):
        return value.id.isupper()
    if isinstance(value, ast.IfExp):
        return is_categorical(value.body) or is_categorical(value.orelse)
    return isinstance(value, ast.JoinedStr)


@operator("crossover_statement", 1.0, needs_donor=True)
def crossover_statement(tree, found, rng, donor):
    """Inserts (or substitutes) an inspiration's statement where every name it reads is bound."""
    donor_bodies = Located(donor).bodies
    if not donor_bodies or not found.bodies:
        return None
    statement = rng.choice(rng.choice(donor_bodies))
    if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
        return None
    places = [(body, i, insert) for body in found.bodies for i in range(len(body))
              for insert in (True, False) if insert or not isinstance(body[i], (ast.Return, ast.FunctionDef))]
    replaced = {}

    def do(c):
        body, i, insert = c
        if insert:
            body.insert(i, copy.deepcopy(statement))
        else:
            replaced[id(c)] = body[i]
            body[i] = copy.deepcopy(statement)

    def undo(c):
        body, i, insert = c
        if insert:
            del body[i]
        else:
            body[i] = replaced.pop(id(c))
    chosen = _first_valid(tree, found, rng, places, do, undo)
    if chosen is None:
        return None
    if chosen[2]:
        return f"inserted a statement from the inspiration (line {chosen[0][chosen[1]].lineno})"
    return f"replaced a statement with one from the inspiration (line {statement.lineno})"


@operator("crossover_function", 0.7, needs_donor=True)
def crossover_function(tree, found, rng, donor):
    donor_defs = {n.name: n for n in donor.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    targets = [i for i, n in enumerate(tree.body)
               if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in donor_defs
               and ast.dump(n) != ast.dump(donor_defs[n.name])]
    if not targets:
        return None
    index = rng.choice(targets)
    tree.body[index] = copy.deepcopy(donor_defs[tree.body[index].name])
    return f"took {tree.body[index].name}() from the inspiration"

