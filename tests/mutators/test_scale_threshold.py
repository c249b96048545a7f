"""scale_threshold: moves an ordered comparison's computed threshold by a factor, and only that."""
import ast
import random

from evolve.mutators.defuse import undefined_names
from evolve.mutators.offline import OfflineMutator
from evolve.mutators.operators import OPERATORS

POLICY = '''import math

SPOT, NONE = "SPOT", "NONE"


# EVOLVE-BLOCK-START
def step(obs):
    remaining = obs.task - obs.done
    if remaining <= 1e-9:
        return NONE
    left = math.floor(obs.deadline - obs.elapsed)
    need = math.ceil(remaining + 2 * obs.overhead)
    if obs.kind == SPOT and need >= left:
        return SPOT
    return NONE
# EVOLVE-BLOCK-END
'''


def only_scale_threshold() -> OfflineMutator:
    return OfflineMutator({name: 0.0 for name in OPERATORS if name != "scale_threshold"})


def comparisons(code: str) -> list[str]:
    return sorted(ast.unparse(n) for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Compare))


def test_it_scales_the_computed_threshold_of_an_ordered_comparison_and_nothing_else():
    mutator, factors = only_scale_threshold(), set()
    for seed in range(40):
        edit = mutator.mutate(POLICY, random.Random(seed))
        assert edit.operator == "scale_threshold", edit.error
        changed = set(comparisons(edit.code)) - set(comparisons(POLICY))
        assert len(changed) == 1
        (compare,) = changed
        # the decision point `need >= left`, never the literal `1e-9` nor the categorical `obs.kind == SPOT`
        assert compare.startswith("need >= left * "), compare
        factors.add(float(compare.rsplit("* ", 1)[1]))
        assert "remaining <= 1e-09" in comparisons(edit.code) and "obs.kind == SPOT" in edit.code
        tree = ast.parse(edit.code)
        compile(tree, "<child>", "exec")
        assert undefined_names(tree) == undefined_names(ast.parse(POLICY))  # def-use intact
    assert len(factors) > 10 and min(factors) < 1.0 < max(factors) and 1.0 not in factors


def test_a_scaled_threshold_is_not_scaled_again_and_nothing_else_qualifies():
    scaled = POLICY.replace("need >= left", "need >= left * 0.8")
    edit = only_scale_threshold().mutate(scaled, random.Random(0))
    assert edit.code is None  # the factor is perturb_constant's and tune_constants' from now on
    flat = POLICY.replace("need >= left", "need >= 3")
    assert only_scale_threshold().mutate(flat, random.Random(0)).code is None
