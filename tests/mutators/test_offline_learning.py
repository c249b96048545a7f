"""What the offline search learns as a campaign goes: which terms grow_expression adds (template, variable,
magnitudes, sign; per parent and pooled over the campaign) and which operators a parent's turns go to."""
import random

import pytest

from evaluators.task import load_task
from evolve.code import find_blocks
from evolve.mutators.ast_operators import Located
from evolve.mutators.base import History, MutationContext, ProgramView
from evolve.mutators.offline import OfflineMutator, _parse_block
from evolve.mutators.operators import OPERATORS


def test_grown_terms_learn_from_what_behaved_like_the_parent():
    """On binpack's seed a term in `item` alone never changes which bin wins (item is the same for every
    bin): after its children came back as functional duplicates, grow_expression mostly tries others."""
    from evolve.mutators.grow import _term_arm
    names = ["item", "remaining"]
    history = [{"state": "functional_duplicate", "edit": {"details": {"term": [t, "item"]}}}
               for t in (0, 5) for _ in range(12)]
    history += [{"state": "evaluated", "status": "ok", "edit": {"details": {"term": [5, "remaining"]}}} for _ in range(3)]
    rng = random.Random(4)
    picks = [_term_arm(rng, [0, 5], names, history) for _ in range(400)]
    assert sum(arm.variable == "item" for arm in picks) < 0.05 * len(picks)
    assert sum(arm.template == 5 for arm in picks) > sum(arm.template == 0 for arm in picks) > 0   # still explored
    unlearnt = [_term_arm(random.Random(s), [0, 5], names, []) for s in range(60)]
    assert len({(arm.template, arm.variable) for arm in unlearnt}) == 4   # no history: all

    code = load_task("binpack_online").seed_code
    block = find_blocks(code)[0]
    tree, _ = _parse_block(code, block)
    description, details = OPERATORS["grow_expression"].apply(tree, Located(tree, history=lambda op: history),
                                                              random.Random(1), None)
    assert description.startswith("added ") and details["term"][1] in ("item", "bins", "remaining", "score")
    assert set(details["magnitude"]) == {"k_decade", "weight_decade", "sign"}


def _grown(state, k, w, sign, variable="remaining", score=None, parent_score=-4.7):
    return {"state": state, "status": "ok" if state == "evaluated" else None, "score": score,
            "parent_score": parent_score if state == "evaluated" else None,
            "edit": {"details": {"term": [5, variable], "magnitude": {"k_decade": k, "weight_decade": w, "sign": sign}}}}


def test_grown_terms_learn_the_magnitude_and_sign_that_pay():
    """Weights too small to change a ranking and thresholds below 10 came back as functional duplicates; a
    positive weight on `remaining` was cut by the cascade stage; a threshold of 10-100 with a weight of 1-10
    below zero scored above the parent: grow_expression then mostly draws those, the sign per variable, and
    still tries the rest."""
    from evolve.mutators.grow import _term_arm
    history = [_grown("functional_duplicate", k, w, s) for k in (-1, 0) for w in (-2, -1) for s in (1, -1)] * 2
    history += [_grown("cut", 1, 1, 1)] * 4 + [_grown("evaluated", 1, 0, -1, score=-4.6)] * 4
    history += [_grown("evaluated", 1, 0, 1, "score", score=-4.65)] * 3 + [_grown("cut", 1, 0, -1, "score")] * 3
    picks = [_term_arm(random.Random(s), [5], ["remaining", "score"], history) for s in range(400)]
    assert sum(arm.k_decade == 1 for arm in picks) > 0.7 * len(picks)
    assert sum(arm.weight_decade in (0, 1) for arm in picks) > 0.7 * len(picks)
    for variable, sign in (("remaining", -1), ("score", 1)):
        mine = [arm for arm in picks if arm.variable == variable]
        assert sum(arm.sign == sign for arm in mine) > 0.7 * len(mine)
    unlearnt = [_term_arm(random.Random(s), [5], ["remaining"], []) for s in range(80)]
    assert {arm.weight_decade for arm in unlearnt} == {-2, -1, 0, 1} and {arm.k_decade for arm in unlearnt} == {-1, 0, 1}
    assert {arm.sign for arm in unlearnt} == {1, -1}
    pending = [{"state": "pending", "edit": {"details": {"term": [5, "item"]}}}] * 30
    assert {_term_arm(random.Random(s), [5], ["item", "bins"], pending).variable for s in range(40)} == {"item", "bins"}


def test_grown_terms_learn_what_comes_near_the_parent_not_what_merely_changes_it():
    """Small thresholds always change the program and score far below the parent (noise); large ones
    sometimes change nothing, and when they do change it they come near it. Learning from change alone
    would draw the small thresholds; grow_expression draws the large ones."""
    from evolve.mutators.grow import _term_arm, outcome_rewards
    history = [_grown("evaluated", -1, 1, 1, score=-5.3 + 0.01 * i) for i in range(10)]
    history += [_grown("functional_duplicate", 1, 0, -1)] * 3 + [_grown("evaluated", 1, 0, -1, score=-4.75)] * 4
    rewards = outcome_rewards(history)
    assert max(rewards[:10]) < min(rewards[13:]) and rewards[10] > 0
    assert outcome_rewards([_grown("evaluated", 1, 0, -1, score=-4.6)]) == [1.0]
    missed = outcome_rewards([_grown("cut", 1, 0, -1), _grown("functional_duplicate", 1, 0, -1)])
    assert missed[0] == missed[1] < min(rewards[:10])   # too large and too small: both misses, below any scored child
    picks = [_term_arm(random.Random(s), [5], ["remaining"], history) for s in range(400)]
    assert sum(arm.k_decade == 1 for arm in picks) > sum(arm.k_decade == -1 for arm in picks)


def test_a_new_parent_starts_from_what_the_campaign_learnt_of_its_terms():
    """A task's invariances hold for every parent: once the campaign's other parents' terms in `item` came
    back as functional duplicates, a parent with no grown child of its own rarely draws `item` either; its
    own children outweigh the campaign's."""
    from evolve.mutators.grow import _term_arm

    def child(program_id, state, variable):
        return {"program_id": program_id, "parent_id": 3, "state": state, "status": "ok",
                "edit": {"details": {"term": [5, variable]}}}
    campaign = [child(i, "functional_duplicate", "item") for i in range(20)]
    campaign += [child(20 + i, "evaluated", "remaining") for i in range(4)]
    picks = [_term_arm(random.Random(s), [5], ["item", "remaining"], [], campaign).variable for s in range(300)]
    assert picks.count("item") < 0.1 * len(picks)
    unpooled = [_term_arm(random.Random(s), [5], ["item", "remaining"], []).variable for s in range(300)]
    assert unpooled.count("item") > 0.3 * len(unpooled)
    own = [child(100 + i, "evaluated", "item") for i in range(12)]
    mine = [_term_arm(random.Random(s), [5], ["item", "remaining"], own, campaign + own).variable for s in range(300)]
    assert mine.count("item") > 3 * max(1, picks.count("item"))   # (its own counted once, not again as the campaign's)


PARENT_CODE = ("import numpy as np\n\n\n# EVOLVE-BLOCK-START\ndef priority(item, bins):\n    remaining = bins - item\n"
               "    score = -remaining.astype(float)\n    return score + -0.0114 * (score * item)\n# EVOLVE-BLOCK-END\n")
# made by a constant edit: a parent whose structure is not new, so no tuning run claims its turns
PARENT = ProgramView(id=7, code=PARENT_CODE, score=-4.6, metrics={}, artifacts={}, generation=1, island=0,
                     operator="perturb_constant")


def _operators_drawn(states, campaign=None, seeds=200, parent=PARENT, children=()):
    """How often each operator made the child of `parent`, over `seeds` seeded calls, given its children's states."""
    mutator, counts = OfflineMutator(), {}
    for seed in range(seeds):
        context = MutationContext(task=None, parent=parent, inspirations=[], rng=random.Random(seed), iteration=1,
                                  history=History(parent_states=states, campaign_states=campaign or {},
                                                  parent_children=tuple(children)))
        edit = mutator.mutate(parent.code, random.Random(seed), context=context)
        counts[edit.operator] = counts.get(edit.operator, 0) + 1
    return counts


@pytest.mark.slow
def test_operators_whose_children_of_a_parent_behave_like_known_programs_are_drawn_less():
    """On a parent whose constant only matters for rare inputs, constant edits come back as functional
    duplicates again and again: once they have, the parent's turns go mostly to other operators."""
    fresh = _operators_drawn({})
    learnt = _operators_drawn({"perturb_constant": {"functional_duplicate": 30, "evaluated": 1},
                               "swap_binop": {"functional_duplicate": 12}, "grow_expression": {"evaluated": 6, "cut": 4}})
    assert fresh["perturb_constant"] > 0.2 * 200
    assert learnt["perturb_constant"] < 0.25 * fresh["perturb_constant"]
    assert learnt.get("swap_binop", 0) < fresh["swap_binop"]
    assert learnt["grow_expression"] > 1.5 * fresh["grow_expression"]


@pytest.mark.slow
def test_a_new_parent_starts_from_how_each_operators_children_fared_on_the_campaigns_other_parents():
    """Swapping an operator almost never changes which bin wins, whichever the parent: a parent with no
    children yet draws it less once the campaign has seen that, and its own children outweigh the campaign's."""
    campaign = {"swap_binop": {"functional_duplicate": 40}, "perturb_constant": {"evaluated": 30, "cut": 10}}
    fresh, told = _operators_drawn({}, {}, 300), _operators_drawn({}, campaign, 300)
    assert told["swap_binop"] < 0.6 * fresh["swap_binop"]
    # the campaign counts for at most PRIOR_CHILDREN children: 40 duplicates weigh exactly as much as 4
    assert told == _operators_drawn({}, dict(campaign, swap_binop={"functional_duplicate": 4}), 300)
    # this parent's own children (here: counted in the campaign's too) decide once there are several
    mine = _operators_drawn({"swap_binop": {"evaluated": 12}}, {"swap_binop": {"functional_duplicate": 40, "evaluated": 12}},
                            300)
    assert mine["swap_binop"] > 1.3 * fresh["swap_binop"]


def test_a_new_structure_gets_its_constants_tuned_first():
    """A grown term arrives with a weight drawn blind: most turns of a parent made by grow_expression start its
    tuning run, until the run has begun; a parent made by a constant edit starts one only when drawn."""
    import dataclasses
    grown = dataclasses.replace(PARENT, operator="grow_expression")
    fresh = _operators_drawn({}, parent=grown)
    assert fresh["tune_constants"] > 0.55 * 200
    assert _operators_drawn({})["tune_constants"] < 0.35 * 200
    begun = [{"operator": "tune_constants", "state": "pending", "status": None, "score": None,
              "edit": {"details": {"tuning": {"seed": 5, "slot": s, "z": [0.0], "space": "log"}}}} for s in range(12)]
    spent = _operators_drawn({"tune_constants": {"pending": 12}}, parent=grown, children=begun)
    assert spent.get("tune_constants", 0) < 0.35 * 200   # the run is spent: the turns go back to the other operators
