"""Offline mutator: seeded AST edits inside EVOLVE-BLOCK regions; needs no LLM.

Operators (evolve/mutators/ast_operators.py): perturb a numeric constant (scale-aware), swap a
comparison or arithmetic operator, negate or relax a condition, scale a comparison's threshold by a
factor, delete / duplicate / swap statements, grow a returned expression by a weighted term over the
function's own variables (which term, its magnitudes and sign are learnt per parent:
evolve/mutators/grow.py), tune all float literals with CMA-ES (evolve/mutators/tuning.py), and crossover of a statement or a whole
function from an inspiration elite (the registry: evolve/mutators/operators.py). On a parent, an
operator whose children there keep behaving like known programs is drawn less (starting from how its
children of the campaign's other parents fared). Every child compiles
and reads no name it does not bind (evolve/mutators/defuse.py, a static check): statement edits
pick places that keep def-use intact.
"""
from __future__ import annotations

import ast
import copy
import random
import textwrap

from ..code import Block, CodeError, block_text, find_blocks, normalized_hash, replace_block
from .ast_operators import Located
from .operators import HISTORY_OPERATORS, LEARNING_OPERATORS, OPERATORS, default_weights
from .base import Edit, HistoryNeeds, MutationContext, Mutator
from .tuning import NAME as TUNING, begins_a_run, continues_a_run
from .defuse import module_names, undefined_names

OPERATOR_WEIGHTS = default_weights()
MAX_TRIES = 48
CONTINUE_RUN = 0.6  # share of a parent's turns given to its unfinished constant-tuning run (or to starting one)
PRIOR_CHILDREN = 4.0  # at most what the campaign's other parents' children by an operator count for on a parent
GIVE_UP_AFTER = 3  # misses after which one mutate call stops drawing an operator (it does not apply here)


def _duplicates_and_others(ended: dict[str, int]) -> tuple[int, int]:
    """(children that behaved like a known program, children that did not) from {state: count}."""
    return (ended.get("functional_duplicate", 0) + ended.get("duplicate", 0),
            ended.get("evaluated", 0) + ended.get("cut", 0))


def _outer_names(module: ast.Module | None, block: Block) -> frozenset[str]:
    """Names the program binds at module level outside `block` (its imports and other definitions)."""
    if module is None:
        return frozenset()
    outside = [s for s in module.body if not block.start <= s.lineno - 1 < block.end]
    return frozenset(module_names(ast.Module(body=outside, type_ignores=[])))


def _unresolved(code: str, required: set[str] = frozenset()) -> set[str] | None:
    """Names the program reads without binding them, plus `def:NAME` for each `required` top-level
    definition it lacks (a lost entry point fails at load as surely as a NameError); None: no parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return undefined_names(tree) | {f"def:{name}" for name in required - _definitions(tree)}


def _definitions(tree: ast.Module) -> set[str]:
    return {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _parse_block(code: str, block: Block) -> tuple[ast.Module, str] | None:
    text = block_text(code, block)
    dedented = textwrap.dedent(text)
    indent = text[: len(text) - len(text.lstrip())].split("\n")[-1] if text.strip() else ""
    try:
        return ast.parse(dedented), indent
    except SyntaxError:
        return None


class OfflineMutator(Mutator):
    """Seeded AST-level edits; the default when no LLM is configured. Computes in this process, so it
    sees every earlier proposal (`sees_earlier_proposals`)."""

    name = "offline"
    sees_earlier_proposals = True

    def __init__(self, operator_weights: dict[str, float] | None = None):
        weights = dict(OPERATOR_WEIGHTS)
        weights.update(operator_weights or {})
        self.operators = [op for op, w in weights.items() if w > 0]
        self.weights = [weights[op] for op in self.operators]

    def history_needs(self) -> HistoryNeeds:
        """Constant tuning rebuilds its run from the parent's earlier tuning children, grow_expression learns
        from its children of the parent and of the campaign, and every operator's weight on a parent
        follows how its children there ended."""
        return HistoryNeeds(parent_children=HISTORY_OPERATORS, campaign_children=LEARNING_OPERATORS,
                            operator_states=True)

    async def propose(self, context: MutationContext) -> Edit:
        return self.mutate(context.parent.code, context.rng, [i.code for i in context.inspirations],
                           [i.id for i in context.inspirations], is_known=context.is_known, context=context)

    def mutate(self, code: str, rng: random.Random, donors: list[str] = (), donor_ids: list[int] = (),
               is_known=None, context: MutationContext | None = None) -> Edit:
        try:
            blocks = find_blocks(code)
        except CodeError as exc:
            return Edit(None, self.name, "none", error=f"cannot find EVOLVE-BLOCK regions: {exc}")
        parsed = [(b, p) for b in blocks if (p := _parse_block(code, b)) is not None]
        if not parsed:
            return Edit(None, self.name, "none", error="no EVOLVE-BLOCK region parses on its own")
        try:
            module = ast.parse(code)
        except SyntaxError:
            module = None
        required = _definitions(module) if module is not None else set()
        parent_unresolved = _unresolved(code, required) or set()
        # Operators that keep missing on this parent (nothing to edit, or only known programs) are dropped
        # for the rest of the call, so the tries go to those that apply: the seed of a task often offers
        # no constant, comparison or condition at all.
        choices, misses = self._weights_for(context, rng), dict.fromkeys(self.operators, 0)

        def missed(name: str, hopeless: bool = False) -> None:
            """`hopeless`: it cannot apply in this call at all (nothing to edit in the only block, no donor)."""
            misses[name] += GIVE_UP_AFTER if hopeless else 1
            if misses[name] >= GIVE_UP_AFTER and len(choices) > 1:
                choices.pop(name, None)
        if TUNING in choices and rng.random() < CONTINUE_RUN and (continues_a_run(context) or begins_a_run(context)):
            edit = self._program_level(TUNING, code, rng, context, required, parent_unresolved)
            if edit is not None:
                return edit
        for _ in range(MAX_TRIES):
            operator = rng.choices(list(choices), list(choices.values()))[0]
            if OPERATORS[operator].propose is not None:
                edit = self._program_level(operator, code, rng, context, required, parent_unresolved)
                if edit is not None:
                    return edit
                missed(operator)
                continue
            block, (tree, indent) = rng.choice(parsed)
            tree = copy.deepcopy(tree)
            donor_tree, donor_id = None, None
            op = OPERATORS[operator]
            if op.needs_donor:
                if not donors:
                    missed(operator, hopeless=True)
                    continue
                pick = rng.randrange(len(donors))
                donor_tree, donor_id = self._donor_tree(donors[pick]), (list(donor_ids)[pick] if donor_ids else None)
                if donor_tree is None:
                    missed(operator)
                    continue
            description = op.apply(tree, self._located(tree, module, block, context if op.learns else None),
                                   rng, donor_tree)
            details = {}
            if isinstance(description, tuple):
                description, details = description
            if description is None:
                missed(operator, hopeless=len(parsed) == 1)  # with several blocks, another may have something
                continue
            try:
                new_text = textwrap.indent(ast.unparse(ast.fix_missing_locations(tree)), indent)
                child = replace_block(code, block, new_text)
                compile(child, "<child>", "exec")  # also catches e.g. return outside a function
            except (SyntaxError, ValueError, RecursionError):
                missed(operator)
                continue
            unresolved = _unresolved(child, required)
            if unresolved is None or unresolved - parent_unresolved:
                missed(operator)
                continue  # the child would fail at load (or first call) on a name the edit left unbound
            if child != code and not (is_known and is_known(normalized_hash(child))):
                return Edit(child, self.name, operator, description=description, details=details,
                            crossover_id=donor_id if op.needs_donor else None)
            missed(operator)
        return Edit(None, self.name, "none", error=f"no new program after {MAX_TRIES} tries")

    def _weights_for(self, context: MutationContext | None, rng: random.Random) -> dict[str, float]:
        """Each operator's weight times a Thompson draw of how likely its next child of this parent is to
        behave unlike a known program: on a parent whose constant only matters for rare inputs, constant
        edits come back as functional duplicates again and again, and the turns go to other operators.
        The draw's prior is how the operator's children of the campaign's other parents ended, worth at
        most PRIOR_CHILDREN children: a new parent does not have to find out again that, on bin packing,
        duplicating a statement or swapping an operator almost never changes which bin wins."""
        states = context.history.parent_states if context is not None else {}
        campaign = context.history.campaign_states if context is not None else {}
        if not states and not campaign:
            return dict(zip(self.operators, self.weights))
        weights = {}
        for name, weight in zip(self.operators, self.weights):
            same, other = _duplicates_and_others(states.get(name, {}))
            all_same, all_other = _duplicates_and_others(campaign.get(name, {}))
            rest_same, rest_other = max(0, all_same - same), max(0, all_other - other)
            rest = rest_same + rest_other
            scale = min(rest, PRIOR_CHILDREN) / rest if rest else 0.0
            weights[name] = weight * rng.betavariate(1 + other + scale * rest_other, 1 + same + scale * rest_same)
        return weights

    @staticmethod
    def _located(tree: ast.Module, module: ast.Module | None, block: Block,
                 context: MutationContext | None) -> Located:
        """What an operator may edit in `tree`, and (for learning operators: a `context`) the parent's earlier
        children and the campaign's latest ones by it."""
        if context is None:
            return Located(tree, _outer_names(module, block))
        return Located(tree, _outer_names(module, block), context.history.children, context.history.campaign)

    def _program_level(self, operator: str, code: str, rng: random.Random, context: MutationContext | None,
                       required: set[str], parent_unresolved: set[str]) -> Edit | None:
        """An edit by a program-level operator (constant tuning); None when it does not apply now."""
        made = OPERATORS[operator].propose(code, rng, context)
        if made is None:
            return None
        child, description, details = made
        try:
            compile(child, "<child>", "exec")
        except (SyntaxError, ValueError, RecursionError):
            return None
        unresolved = _unresolved(child, required)
        if child == code or unresolved is None or unresolved - parent_unresolved:
            return None
        # a probe that repeats a known program is still proposed: it is recorded as a duplicate and its
        # score (the known program's) is what the optimiser is told, without a second evaluation
        return Edit(child, self.name, operator, description=description, details=details)

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

