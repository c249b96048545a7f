"""Offline mutator: seeded AST edits inside EVOLVE-BLOCK regions; needs no LLM.

Operators: perturb a numeric constant (scale-aware), swap a comparison or arithmetic
operator, negate or relax a condition, delete / duplicate / swap statements, grow a returned
expression by a small weighted term over the function's own variables, and crossover of a
statement or a whole function from an inspiration elite. Every child parses.
"""
from __future__ import annotations

import ast
import copy
import math
import random
import textwrap

from ..code import Block, CodeError, block_text, find_blocks, normalized_hash, replace_block
from .base import Edit, MutationContext

_COMPARE_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
                  ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq]}
_BINOP_SWAPS = {ast.Add: [ast.Sub, ast.Mult], ast.Sub: [ast.Add, ast.Mult], ast.Mult: [ast.Div, ast.Add],
                ast.Div: [ast.Mult, ast.Sub], ast.Pow: [ast.Mult], ast.Mod: [ast.FloorDiv],
                ast.FloorDiv: [ast.Div, ast.Mod]}
_RELAX = {ast.Lt: ast.LtE, ast.Gt: ast.GtE, ast.LtE: ast.Lt, ast.GtE: ast.Gt}

OPERATOR_WEIGHTS = {
    "perturb_constant": 5.0, "swap_compare": 1.0, "swap_binop": 1.0, "negate_condition": 0.5,
    "relax_condition": 1.0, "delete_statement": 0.7, "duplicate_statement": 0.5,
    "swap_statements": 0.5, "grow_expression": 1.0, "crossover_statement": 1.0, "crossover_function": 0.7,
}
# Terms `grow_expression` may add, over one or two of the function's variables (a, b) and a constant k.
_GROW_TEMPLATES = ("{a} ** 2", "abs({a}) ** 0.5", "{a} * {b}", "{a} / (1.0 + abs({b}))", "1.0 / (1.0 + abs({a}))",
                   "{a} % {k}", "({a} < {k}) * 1.0", "({a} > {b}) * 1.0", "({a} == 0) * 1.0", "{a} / {k}")
MAX_TRIES = 24


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


class _Located:
    """Collects nodes of a block's AST that an operator can act on."""

    def __init__(self, tree: ast.AST):
        self.constants, self.compares, self.binops, self.conditions, self.bodies = [], [], [], [], []
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


def _mutate_tree(tree: ast.Module, operator: str, rng: random.Random, donor: ast.Module | None) -> str | None:
    """Apply one operator in place; returns a description, or None when it does not apply."""
    found = _Located(tree)
    if operator == "perturb_constant" and found.constants:
        node = rng.choice(found.constants)
        old = node.value
        node.value = perturb_number(old, rng)
        return f"constant {old!r} -> {node.value!r} (line {node.lineno})"
    if operator == "swap_compare" and found.compares:
        node = rng.choice(found.compares)
        index = rng.randrange(len(node.ops))
        choices = _COMPARE_SWAPS.get(type(node.ops[index]))
        if not choices:
            return None
        old = type(node.ops[index]).__name__
        node.ops[index] = rng.choice(choices)()
        return f"comparison {old} -> {type(node.ops[index]).__name__} (line {node.lineno})"
    if operator == "swap_binop" and found.binops:
        node = rng.choice(found.binops)
        old = type(node.op).__name__
        node.op = rng.choice(_BINOP_SWAPS[type(node.op)])()
        return f"operator {old} -> {type(node.op).__name__} (line {node.lineno})"
    if operator == "negate_condition" and found.conditions:
        node = rng.choice(found.conditions)
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        return f"negated condition (line {node.lineno})"
    if operator == "relax_condition" and found.compares:
        node = rng.choice(found.compares)
        index = rng.randrange(len(node.ops))
        kind = type(node.ops[index])
        if kind in _RELAX and rng.random() < 0.5:
            node.ops[index] = _RELAX[kind]()
            return f"relaxed {kind.__name__} -> {_RELAX[kind].__name__} (line {node.lineno})"
        margin = perturb_number(1.0, rng)
        node.comparators[index] = ast.BinOp(left=node.comparators[index], op=ast.Add(), right=ast.Constant(margin))
        return f"shifted comparison threshold by {margin!r} (line {node.lineno})"
    if operator == "grow_expression":
        return _grow_expression(tree, rng)
    if operator in ("delete_statement", "duplicate_statement", "swap_statements"):
        bodies = [b for b in found.bodies if len(b) >= (2 if operator != "duplicate_statement" else 1)]
        if not bodies:
            return None
        body = rng.choice(bodies)
        index = rng.randrange(len(body))
        if operator == "delete_statement":
            if isinstance(body[index], (ast.FunctionDef, ast.ClassDef, ast.Return)) and len(body) > 1:
                return None
            line = body[index].lineno
            del body[index]
            return f"deleted statement at line {line}"
        if operator == "duplicate_statement":
            if isinstance(body[index], (ast.FunctionDef, ast.ClassDef, ast.Return)):
                return None
            body.insert(index, copy.deepcopy(body[index]))
            return f"duplicated statement at line {body[index].lineno}"
        if index == len(body) - 1:
            index -= 1
        if any(isinstance(s, ast.Return) for s in body[index:index + 2]):
            return None
        body[index], body[index + 1] = body[index + 1], body[index]
        return f"swapped statements at lines {body[index + 1].lineno} and {body[index].lineno}"
    if operator == "crossover_function" and donor is not None:
        donor_defs = {n.name: n for n in donor.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        targets = [i for i, n in enumerate(tree.body)
                   if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in donor_defs
                   and ast.dump(n) != ast.dump(donor_defs[n.name])]
        if not targets:
            return None
        index = rng.choice(targets)
        tree.body[index] = copy.deepcopy(donor_defs[tree.body[index].name])
        return f"took {tree.body[index].name}() from the inspiration"
    if operator == "crossover_statement" and donor is not None:
        donor_bodies = _Located(donor).bodies
        if not donor_bodies or not found.bodies:
            return None
        source = rng.choice(donor_bodies)
        statement = rng.choice(source)
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            return None
        body = rng.choice(found.bodies)
        index = rng.randrange(len(body))
        if isinstance(body[index], ast.Return) or rng.random() < 0.5:
            body.insert(index, copy.deepcopy(statement))
            return f"inserted a statement from the inspiration (line {body[index].lineno})"
        body[index] = copy.deepcopy(statement)
        return f"replaced a statement with one from the inspiration (line {statement.lineno})"
    return None


def _grow_expression(tree: ast.Module, rng: random.Random) -> str | None:
    """`return X` becomes `return X + c * term(variables)`: lets the search add structure, not only tune it."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    if not functions:
        return None
    function = rng.choice(functions)
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None
               and not (isinstance(n.value, ast.Constant) and isinstance(n.value.value, str))]
    names = [a.arg for a in function.args.args if a.arg not in ("self", "cls")]
    names += [n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    names = sorted(set(names))
    if not returns or not names:
        return None
    target = rng.choice(returns)
    first = rng.choice(names)
    second = rng.choice([n for n in names if n != first] or names)
    text = rng.choice(_GROW_TEMPLATES).format(a=first, b=second, k=repr(float(rng.choice([1, 2, 3, 5, 10]))))
    weight = float(f"{rng.choice([-1, 1]) * 10 ** rng.uniform(-2, 1):.3g}")
    term = ast.parse(f"{weight!r} * ({text})", mode="eval").body
    target.value = ast.BinOp(left=target.value, op=ast.Add(), right=term)
    return f"added {weight!r} * ({text}) to the return value (line {target.lineno})"


def _parse_block(code: str, block: Block) -> tuple[ast.Module, str] | None:
    text = block_text(code, block)
    dedented = textwrap.dedent(text)
    indent = text[: len(text) - len(text.lstrip())].split("\n")[-1] if text.strip() else ""
    try:
        return ast.parse(dedented), indent
    except SyntaxError:
        return None


class OfflineMutator:
    """Seeded AST-level edits; the default when no LLM is configured."""

    name = "offline"

    def __init__(self, operator_weights: dict[str, float] | None = None):
        weights = dict(OPERATOR_WEIGHTS)
        weights.update(operator_weights or {})
        self.operators = [op for op, w in weights.items() if w > 0]
        self.weights = [weights[op] for op in self.operators]

    async def propose(self, context: MutationContext) -> Edit:
        return self.mutate(context.parent.code, context.rng, [i.code for i in context.inspirations],
                           [i.id for i in context.inspirations], is_known=context.is_known)

    def mutate(self, code: str, rng: random.Random, donors: list[str] = (), donor_ids: list[int] = (),
               is_known=None) -> Edit:
        try:
            blocks = find_blocks(code)
        except CodeError as exc:
            return Edit(None, self.name, "none", error=f"cannot find EVOLVE-BLOCK regions: {exc}")
        parsed = [(b, p) for b in blocks if (p := _parse_block(code, b)) is not None]
        if not parsed:
            return Edit(None, self.name, "none", error="no EVOLVE-BLOCK region parses on its own")
        for _ in range(MAX_TRIES):
            operator = rng.choices(self.operators, self.weights)[0]
            block, (tree, indent) = rng.choice(parsed)
            tree = copy.deepcopy(tree)
            donor_tree, donor_id = None, None
            if operator.startswith("crossover"):
                if not donors:
                    continue
                pick = rng.randrange(len(donors))
                donor_tree, donor_id = self._donor_tree(donors[pick]), (list(donor_ids)[pick] if donor_ids else None)
                if donor_tree is None:
                    continue
            description = _mutate_tree(tree, operator, rng, donor_tree)
            if description is None:
                continue
            try:
                new_text = textwrap.indent(ast.unparse(ast.fix_missing_locations(tree)), indent)
                child = replace_block(code, block, new_text)
                compile(child, "<child>", "exec")  # also catches e.g. return outside a function
            except (SyntaxError, ValueError, RecursionError):
                continue
            if child != code and not (is_known and is_known(normalized_hash(child))):
                return Edit(child, self.name, operator, description=description,
                            crossover_id=donor_id if operator.startswith("crossover") else None)
        return Edit(None, self.name, "none", error=f"no new program after {MAX_TRIES} tries")

    @staticmethod
    def _donor_tree(code: str) -> ast.Module | None:
        try:
            trees = [p[0] for b in find_blocks(code) if (p := _parse_block(code, b)) is not None]
        except CodeError:
            return None
        if not trees:
            return None
        merged = ast.Module(body=[s for t in trees for s in t.body], type_ignores=[])
        return merged

    async def close(self) -> None:
        return None
