"""EVOLVE-BLOCK handling, normalised hashing and the offline AST mutator."""
import ast
import random

import pytest

from evaluators.task import load_task
from evolve.code import CodeError, find_blocks, normalized_hash, replace_block, strip_markers
from evolve.mutators.ast_operators import perturb_number
from evolve.mutators.operators import OPERATORS
from evolve.mutators.offline import OPERATOR_WEIGHTS, OfflineMutator

PROGRAM = '''import math

HELPER = 3  # outside the block: never edited


# EVOLVE-BLOCK-START
def score(x, y):
    """Docstring."""
    total = 0.0
    if x < y:
        total = total + 2.5 * x
    for i in range(4):
        total -= y / (i + 1)
    return total
# EVOLVE-BLOCK-END


def untouched():
    return HELPER + 1
'''


def test_blocks_and_replace():
    blocks = find_blocks(PROGRAM)
    assert len(blocks) == 1
    replaced = replace_block(PROGRAM, blocks[0], "def score(x, y):\n    return 1")
    assert "return 1" in replaced and "def untouched" in replaced and "EVOLVE-BLOCK-START" in replaced
    assert "EVOLVE-BLOCK" not in strip_markers(PROGRAM)
    with pytest.raises(CodeError):
        find_blocks("# EVOLVE-BLOCK-START\nx = 1\n")


def test_normalized_hash_ignores_comments_formatting_and_docstrings():
    variant = PROGRAM.replace("total = 0.0", "total = 0.0   # start").replace('"""Docstring."""', "")
    variant = variant.replace("2.5 * x", "2.5*x")
    assert normalized_hash(variant) == normalized_hash(PROGRAM)
    assert normalized_hash(PROGRAM.replace("2.5", "2.6")) != normalized_hash(PROGRAM)


def test_mutations_parse_stay_inside_blocks_and_name_their_operator():
    mutator = OfflineMutator()
    donor = PROGRAM.replace("total -= y / (i + 1)", "total += math.sqrt(abs(x)) * i")
    outside = PROGRAM.split("# EVOLVE-BLOCK-END")[1]
    seen = set()
    for seed in range(300):
        edit = mutator.mutate(PROGRAM, random.Random(seed), [donor], [42])
        assert edit.code is not None, edit.error
        ast.parse(edit.code)
        assert edit.code.split("# EVOLVE-BLOCK-END")[1] == outside
        assert edit.code.startswith("import math\n\nHELPER = 3  # outside the block: never edited")
        assert edit.operator in OPERATOR_WEIGHTS and edit.description
        if edit.operator.startswith("crossover"):
            assert edit.crossover_id == 42
        seen.add(edit.operator)
    # program-level operators (tune_constants) need the campaign's history: tests/mutators/test_offline_search.py
    block_level = {name for name, op in OPERATORS.items() if op.propose is None}
    assert seen == block_level, f"operators never applied: {block_level - seen}"


def test_mutator_is_deterministic_per_seed():
    mutator = OfflineMutator()
    first = [mutator.mutate(PROGRAM, random.Random(s)).code for s in range(50)]
    second = [mutator.mutate(PROGRAM, random.Random(s)).code for s in range(50)]
    assert first == second
    assert len(set(first)) > 20


def test_perturbation_is_scale_aware():
    rng = random.Random(0)
    large = [perturb_number(1000.0, rng) for _ in range(200)]
    small = [perturb_number(0.001, rng) for _ in range(200)]
    assert 100 < sorted(abs(v) for v in large)[100] < 10000
    assert sorted(abs(v) for v in small)[100] < 0.01
    assert all(isinstance(perturb_number(7, rng), int) for _ in range(20))


def test_mutating_the_shipped_seed_keeps_the_entry_point():
    task = load_task("binpack_online")
    mutator = OfflineMutator()
    for seed in range(50):
        edit = mutator.mutate(task.seed_code, random.Random(seed))
        tree = ast.parse(edit.code)
        assert any(isinstance(n, ast.FunctionDef) and n.name == "priority" for n in tree.body)
