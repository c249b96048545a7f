"""The stronger offline search: def-use-safe edits, and CMA-ES constant tuning (`tune_constants`)."""
import ast
import asyncio
import json
import random
import sqlite3
import subprocess

import numpy as np
import pytest

from core_support import evolve_cmd
from evaluators.task import load_task
from evolve.code import find_blocks
from evolve.executors import local_executor
from evolve.mutators.ast_operators import Located
from evolve.mutators.operators import OPERATORS
from evolve.mutators.defuse import undefined_names
from evolve.mutators.offline import OfflineMutator, _outer_names, _parse_block
from evolve.code import normalized_hash
from evolve.mutators.base import History, MutationContext, ProgramView
from evolve.mutators.tuning import BUDGET, continues_a_run, literals, next_probe, probe_values, with_literals

TASKS = ["binpack_online", "spot_scheduling", "moe_eplb", "tts_search", "spec_decoding"]
STATEMENT_OPERATORS = ["delete_statement", "duplicate_statement", "swap_statements", "crossover_statement",
                       "grow_expression"]
LOAD_FAILURES = ("NameError", "UnboundLocalError", "MissingEntryPoint")

# A toy-task program with a chain of temporaries: deleting or swapping the wrong statement breaks it.
CHAIN = '''import math


# EVOLVE-BLOCK-START
def f(x):
    a = 0.5 * x
    b = a + 0.1
    k = x * x
    c = b * b
    c = 0.9 * c + 0.1 * k
    if x > 0.5:
        d = c - a
    else:
        d = c + a
    e = math.tanh(d) + b
    return e
# EVOLVE-BLOCK-END
'''


def _programs(name: str) -> list[str]:
    task = load_task(name)
    return [task.seed_code] + [task.baseline_code(b) for b in task.spec.baselines]


def _top_level_defs(code: str) -> set[str]:
    return {s.name for s in ast.parse(code).body if isinstance(s, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.slow
@pytest.mark.parametrize("task_name", TASKS)
def test_statement_operators_keep_def_use_on_shipped_programs(task_name):
    """Each statement operator, applied straight to a block's tree (no mutator-level safety net), never
    leaves a name read before or without its binding, over many seeds and every shipped program."""
    programs = _programs(task_name)
    applied = {name: 0 for name in STATEMENT_OPERATORS}
    for index, code in enumerate(programs):
        module = ast.parse(code)
        donor = ast.Module(body=[s for p in programs[:index] + programs[index + 1:]
                                 for b in find_blocks(p) for s in (_parse_block(p, b) or (ast.Module([], []),))[0].body],
                           type_ignores=[])
        for block in find_blocks(code):
            parsed = _parse_block(code, block)
            if parsed is None:
                continue
            outer = _outer_names(module, block)
            assert not undefined_names(parsed[0], outer), "a shipped program reads an unbound name"
            for seed in range(20):
                for name in STATEMENT_OPERATORS:
                    tree = ast.parse(ast.unparse(parsed[0]))
                    if OPERATORS[name].apply(tree, Located(tree, outer), random.Random(seed), donor) is None:
                        continue
                    applied[name] += 1
                    broken = undefined_names(tree, outer)
                    assert not broken, f"{name} (seed {seed}) left {broken} unbound:\n{ast.unparse(tree)}"
    assert sum(applied.values()) > 0, applied


def test_statement_operators_apply_where_def_use_allows():
    """On a chain of temporaries the statement edits still find places to act, and never a wrong one."""
    module = ast.parse(CHAIN)
    block = find_blocks(CHAIN)[0]
    tree0, _ = _parse_block(CHAIN, block)
    outer = _outer_names(module, block)
    applied = {name: 0 for name in STATEMENT_OPERATORS if name != "crossover_statement"}
    for seed in range(40):
        for name in applied:
            tree = ast.parse(ast.unparse(tree0))
            if OPERATORS[name].apply(tree, Located(tree, outer), random.Random(seed), None) is not None:
                applied[name] += 1
                assert not undefined_names(tree, outer), (name, ast.unparse(tree))
    assert all(applied.values()), applied


@pytest.mark.slow
@pytest.mark.parametrize("task_name", TASKS)
def test_offline_children_compile_resolve_and_keep_their_entry_point(task_name):
    mutator = OfflineMutator()
    programs = _programs(task_name)
    for index, code in enumerate(programs):
        donors = programs[:index] + programs[index + 1:]
        for seed in range(30):
            edit = mutator.mutate(code, random.Random(seed), donors, list(range(len(donors))))
            if edit.code is None:
                continue
            compile(edit.code, "<child>", "exec")
            assert not undefined_names(ast.parse(edit.code)), (edit.operator, edit.description)
            assert _top_level_defs(code) <= _top_level_defs(edit.code), edit.operator


def test_def_use_check_finds_the_breakages_edits_used_to_make():
    assert undefined_names(ast.parse("def f(x):\n    y = z + x\n    z = 1\n    return y\n")) == {"z"}
    assert undefined_names(ast.parse("import numpy as np\nr = bins - 1\n")) == {"bins"}
    assert undefined_names(ast.parse("def f(bins):\n    return score\n")) == {"score"}
    fine = "import math\ndef f(x):\n    g = lambda t: [t * i for i in range(3)]\n    while (n := x) > 1:\n" \
           "        x -= 1\n    return math.fsum(g(n))\n"
    assert undefined_names(ast.parse(fine)) == set()


@pytest.mark.slow
def test_sampled_children_never_fail_at_load_in_the_sandbox(toy_task_dir):
    """Children of a program with a chain of temporaries, evaluated for real: none fails on a name."""
    task = load_task(task_dir=toy_task_dir)
    mutator = OfflineMutator({"delete_statement": 5, "swap_statements": 5, "crossover_statement": 5})
    donor = CHAIN.replace("c = b * b", "c = b * x + math.sin(a)")
    children = {}
    for seed in range(400):
        edit = mutator.mutate(CHAIN, random.Random(seed), [donor], [1])
        if edit.code is not None and edit.operator in ("delete_statement", "swap_statements", "crossover_statement"):
            children.setdefault(edit.code, edit.operator)
        if len(children) >= 16:
            break
    assert len(children) >= 10

    async def evaluate_all():
        sandbox = local_executor("process", workers=2)
        try:
            return await asyncio.gather(*(sandbox.evaluate(task, code, task.limits, split="train") for code in children))
        finally:
            await sandbox.close()

    results = asyncio.run(evaluate_all())
    for (code, operator), result in zip(children.items(), results):
        message = str(result.artifacts.get("message", ""))
        assert not any(kind in message for kind in LOAD_FAILURES), f"{operator}: {message}\n{code}"
    assert sum(r.ok for r in results) >= len(results) // 2


def test_literals_round_trip_including_negated_ones():
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return 1.5 * x - -0.25 + 3\n# EVOLVE-BLOCK-END\n"
    assert literals(code) == [1.5, -0.25]
    changed = with_literals(code, [-2.0, 0.125])
    assert literals(changed) == [-2.0, 0.125] and "+ 3" in changed


@pytest.mark.slow
def test_next_probe_is_a_pure_function_of_its_history_and_converges():
    """Replaying the same (vector, score) history gives the same next probe; asking and telling with two
    probes in flight drives a 4-d quadratic down within 48 evaluations."""
    optimum = np.array([0.8, -0.5, 0.3, 0.1])
    history, in_flight = [], []
    before = np.random.get_state()[1].copy()
    f0 = float(np.sum(optimum ** 2))
    for _ in range(200):
        probe = next_probe(4, 11, history, f0, budget=48)
        if probe is None and not in_flight:
            break
        if probe is not None and len(in_flight) < 2:
            assert probe == next_probe(4, 11, history, f0, budget=48)
            entry = {"slot": probe[0], "z": probe[1], "f": None}
            history.append(entry)
            in_flight.append(entry)
            continue
        done = in_flight.pop(0)  # the oldest evaluation in flight finishes
        done["f"] = float(np.sum((np.array(done["z"]) - optimum) ** 2))
    assert np.array_equal(before, np.random.get_state()[1]), "the global numpy generator was disturbed"
    assert len(history) == 48 and not in_flight
    best = min(e["f"] for e in history)
    assert best < 0.15 * f0, best


def test_cut_probes_are_told_in_the_order_the_cascade_saw_them():
    """CMA-ES ranks: scored probes by their training score; below them the cut ones, the one that got
    furthest through the cascade (then scored best at the stage that cut it) first; failed ones last."""
    from evolve.mutators.tuning import _told
    cut = lambda evaluations, score: {"f": float("inf"), "stage": {"evaluations": evaluations, "score": score}}  # noqa: E731
    generation = [{"f": 4.0}, cut(2, -9.0), {"f": float("inf"), "stage": None}, cut(2, -5.0), {"f": 3.0},
                  cut(3, -50.0)]
    told = _told(generation, worst=4.0)  # the worst training score seen, this generation's included
    order = sorted(range(len(told)), key=told.__getitem__)
    assert order == [4, 0, 5, 3, 1, 2]
    assert min(told[i] for i in (1, 2, 3, 5)) > 4.0


def test_a_tuning_probe_that_duplicates_a_cut_program_does_not_hold_up_its_run(tmp_path):
    """A probe whose outputs equal a program the cascade cut is as bad as that program: its run must be
    told so and go on, not wait for a training score that never comes."""
    from archive import Archive
    from evaluators.contract import EvaluationResult, Status
    from evolve.mutators.tuning import _history
    archive = Archive(str(tmp_path / "a.db"))
    try:
        cid = archive.create_campaign(name="c", task_name="t", task_dir=None, config={}, seed=0, iterations=4).id
        add = lambda i, parent, state, edit, twin=None: archive.add_program(  # noqa: E731
            cid, iteration=i, code=f"x = {i}", code_hash=str(i), parent_id=parent, inspiration_ids=[],
            mutator="offline", operator="tune_constants", edit=edit, generation=1, island=0, state=state,
            duplicate_of=twin)
        parent = add(0, None, "evaluated", {})
        tuning = lambda slot: {"details": {"tuning": {"seed": 5, "slot": slot, "z": [0.1 * slot]}}}  # noqa: E731
        first = add(1, parent, "pending", tuning(0))
        archive.record_stage(first, "probe", EvaluationResult(Status.OK, score=0.0))
        archive.record_stage(first, "stage", EvaluationResult(Status.OK, score=-7.5))
        archive.mark_cut(first, "stage", score=-7.5, threshold=-5.0)
        twin = add(2, parent, "pending", tuning(1))
        archive.mark_functional_duplicate(twin, first)
        children = archive.children_by_operator(cid, parent, ["tune_constants"])
    finally:
        archive.close()
    assert [(c["state"], c["outcome_state"], c["stage"]) for c in children] == [
        ("cut", "cut", {"evaluations": 2, "score": -7.5}), ("functional_duplicate", "cut", {"evaluations": 2, "score": -7.5})]
    seed, history = _history(children)
    assert seed == 5 and [e["f"] for e in history] == [float("inf")] * 2
    assert all(e["stage"] == {"evaluations": 2, "score": -7.5} for e in history)


def _run_toy(tmp_path, toy_task_dir, cli_env, name, operators, iterations=48, seed=3, lag=0):
    """A toy campaign of the given operators; lag 0 (each iteration sees every verdict before it) so the
    figures are the operators' own."""
    config = tmp_path / f"{name}.yaml"
    weights = {op: 0 for op in OPERATORS}
    weights.update(operators)
    config.write_text(json.dumps({"task_dir": str(toy_task_dir), "iterations": iterations, "seed": seed,
                                  "workers": 1, "lag": lag, "operators": weights, "heldout_report": False}))
    db = tmp_path / f"{name}.db"
    proc = subprocess.run(evolve_cmd("run", "--config", config, "--db", db, "--json"), capture_output=True,
                          text=True, env=cli_env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as con:
        rows = con.execute("select p.iteration, p.code_hash, p.operator, p.state, e.score from programs p "
                           "left join evaluations e on e.program_id = p.id order by p.iteration").fetchall()
    return rows


@pytest.mark.slow
def test_tune_constants_converges_on_the_toy_task_and_is_deterministic(tmp_path, toy_task_dir, cli_env):
    rows = _run_toy(tmp_path, toy_task_dir, cli_env, "a", {"tune_constants": 1})
    seed_score = rows[0][4]
    tuned = [r for r in rows[1:] if r[2] == "tune_constants"]
    assert len(tuned) >= 30
    best = max(r[4] for r in tuned if r[4] is not None)
    assert -best < 0.35 * -seed_score, (seed_score, best)   # mean squared error down by more than 65 %
    assert _run_toy(tmp_path, toy_task_dir, cli_env, "b", {"tune_constants": 1}) == rows


def test_edits_never_add_numbers_to_choices():
    """spot_scheduling's policy returns SPOT / ON_DEMAND / NONE and compares `cluster_type == SPOT`:
    growing the return value or shifting that comparison by a number crashed every such child."""
    code = load_task("spot_scheduling").seed_code
    for seed in range(60):
        for name in ("grow_expression", "relax_condition"):
            edit = OfflineMutator({name: 1000}).mutate(code, random.Random(seed))
            if edit.operator == name:
                assert "SPOT +" not in edit.code and "NONE +" not in edit.code and "ON_DEMAND +" not in edit.code
                assert name != "grow_expression", edit.description


@pytest.mark.parametrize("task_name", TASKS)
def test_a_seed_always_gets_a_new_child_while_one_exists(task_name):
    """Most operators find nothing to edit in a seed (binpack's has no constant, comparison or condition)
    and the few that do soon repeat known programs: each mutate call drops what misses and keeps trying
    what still makes new programs, instead of spending its tries on operators that cannot."""
    code = load_task(task_name).seed_code
    known = {normalized_hash(code)}
    mutator = OfflineMutator()
    failed = 0
    for seed in range(60):
        edit = mutator.mutate(code, random.Random(seed), is_known=lambda h: h in known)
        if edit.code is None:
            failed += 1
        else:
            assert normalized_hash(edit.code) not in known
            known.add(normalized_hash(edit.code))
    assert failed == 0, f"{failed} of 60 calls found no new child of the {task_name} seed"


def test_tuning_steps_magnitudes_in_log_space_and_replays_older_runs_as_recorded():
    x0 = [-3.0, 20.0, 0.0]
    assert probe_values(x0, [0.0, 0.0, 0.0], "log") == x0
    up = probe_values(x0, [1.0, -1.0, 2.0], "log")
    assert up == pytest.approx([-3.0 * np.e, 20.0 / np.e, 0.2])  # signs kept, magnitudes scaled; zero moves additively
    # a run an older release recorded (no space) continues with the additive step it was started with
    assert probe_values(x0, [1.0, -1.0, 2.0], None) == pytest.approx([0.0, 0.0, 0.2])


def _context_with_tuning_children(slots, made_by="grow_expression"):
    parent = ProgramView(id=7, code="", score=-1.0, metrics={}, artifacts={}, generation=1, island=0,
                         operator=made_by)
    children = [{"program_id": 10 + i, "iteration": 10 + i, "state": "evaluated", "status": "ok", "score": -1.0,
                 "edit": {"details": {"tuning": {"seed": 5, "slot": slot, "z": [0.0]}}}} for i, slot in enumerate(slots)]
    children = [{**c, "operator": "tune_constants"} for c in children]
    return MutationContext(task=None, parent=parent, inspirations=[], rng=random.Random(0), iteration=1,
                           history=History(parent_children=tuple(children)))


def test_a_begun_tuning_run_is_continued_until_its_budget_is_spent():
    assert not continues_a_run(_context_with_tuning_children([]))
    assert continues_a_run(_context_with_tuning_children([0, 1, 1]))       # a duplicate probe counts once
    assert not continues_a_run(_context_with_tuning_children(range(BUDGET)))


def test_a_new_structure_is_tuned_in_log_space_and_a_tuned_one_in_fine_steps():
    """Coarse to fine: a grown term's weight and threshold have no known scale; literals that were already
    tuned (or chosen by the task's author) are refined by relative steps that may cross zero."""
    from evolve.mutators.tuning import tune_constants
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x + -3.5 * (x < 2.5)\n# EVOLVE-BLOCK-END\n"
    spaces = {}
    for made_by in ("grow_expression", "tune_constants", "seed"):
        context = _context_with_tuning_children([], made_by)
        child, _, details = tune_constants.propose(code, random.Random(3), context)
        spaces[made_by] = details["tuning"]["space"]
        assert literals(child) == pytest.approx(probe_values([-3.5, 2.5], details["tuning"]["z"], spaces[made_by]),
                                                rel=1e-4)
    assert spaces == {"grow_expression": "log", "tune_constants": "fine", "seed": "fine"}
