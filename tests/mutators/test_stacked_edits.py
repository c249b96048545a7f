"""Stacked edits: on a parent whose children keep behaving like known programs, a child takes several steps."""
import ast
import random

from evolve.mutators.base import History, MutationContext, ProgramView
from evolve.mutators.defuse import undefined_names
from evolve.mutators.offline import MAX_STACKED, OfflineMutator

CODE = '''import math


# EVOLVE-BLOCK-START
def step(obs):
    remaining = obs.task - obs.done
    if remaining <= 1e-9:
        return 0
    left = math.floor(obs.deadline - obs.elapsed)
    need = math.ceil(remaining + 2 * obs.overhead)
    if need >= left:
        return 1
    return 2 if obs.spot else 0
# EVOLVE-BLOCK-END
'''
PARENT = ProgramView(id=3, code=CODE, score=1.0, metrics={}, artifacts={}, generation=0, island=0, operator="seed")


def _edits(states, seeds=120):
    mutator, edits = OfflineMutator({"tune_constants": 0.0}), []
    for seed in range(seeds):
        context = MutationContext(task=None, parent=PARENT, inspirations=[], rng=random.Random(seed), iteration=1,
                                  history=History(parent_states=states))
        edits.append(mutator.mutate(CODE, random.Random(seed), context=context))
    return edits


def test_a_parent_of_functional_duplicates_gets_stacked_edits_that_keep_def_use():
    plateau = {"perturb_constant": {"functional_duplicate": 30}, "relax_condition": {"functional_duplicate": 20},
               "swap_binop": {"functional_duplicate": 10, "evaluated": 1}}
    edits = _edits(plateau)
    depths = [len(e.details.get("stacked", [])) for e in edits]
    assert all(e.code is not None for e in edits)
    assert sum(d > 0 for d in depths) > len(edits) / 2 and max(depths) == MAX_STACKED
    for edit in edits:
        tree = ast.parse(edit.code)
        compile(tree, "<child>", "exec")
        assert undefined_names(tree) == undefined_names(ast.parse(CODE))
        if edit.details.get("stacked"):
            assert edit.description.count("; then ") == len(edit.details["stacked"])


def test_a_fresh_parent_or_one_whose_children_differ_gets_one_edit():
    assert not any("stacked" in e.details for e in _edits({}))
    moving = {"perturb_constant": {"evaluated": 40}, "relax_condition": {"cut": 20, "functional_duplicate": 1}}
    depths = [len(e.details.get("stacked", [])) for e in _edits(moving)]
    assert sum(d > 0 for d in depths) < len(depths) / 10


def test_stacking_is_deterministic_per_seed():
    plateau = {"perturb_constant": {"functional_duplicate": 50}}
    assert [e.code for e in _edits(plateau, 20)] == [e.code for e in _edits(plateau, 20)]
