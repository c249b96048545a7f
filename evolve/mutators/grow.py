"""`grow_expression`: adds a weighted term to a returned expression, learning per parent which terms pay.

`return X` becomes `return X + w * term(variables, k)`: it lets the offline search add structure,
not only tune it. A fresh term is drawn by Thompson sampling over its parts (template, variable,
the decades of k and |w|, the sign of w per variable) from how the parent's earlier grown children
fared, and at half weight the campaign's other grown children. `tune_constants` then refines
whatever structure pays off.
"""
from __future__ import annotations

import ast
import bisect
import dataclasses
import random

from .ast_operators import is_categorical, operator
from .defuse import names_defined_before

# Terms `grow_expression` may add, over one or two of the function's variables (a, b) and a constant k. A
# comparison is added as is (weight x bool is a number, for scalars and numpy arrays alike): a `* 1.0` would
# be a second literal scaling the same term, and constant edits would spend turns on it.
_GROW_TEMPLATES = ("{a} ** 2", "abs({a}) ** 0.5", "{a} * {b}", "{a} / (1.0 + abs({b}))", "1.0 / (1.0 + abs({a}))",
                   "{a} % {k}", "({a} < {k})", "({a} > {b})", "({a} == 0)", "{a} / {k}")


def _thompson(rng: random.Random, arms: list, wins: dict, losses: dict):
    draws = [rng.betavariate(1 + wins.get(arm, 0), 1 + losses.get(arm, 0)) for arm in arms]
    return arms[max(range(len(arms)), key=draws.__getitem__)]


# Decades a grown term's constant k and weight magnitude |w| are drawn from, log-uniformly within one:
# which decade (and which sign, per variable) is learnt per parent like the term itself.
K_DECADES = (-1, 0, 1)          # k in [0.1, 1), [1, 10), [10, 100)
WEIGHT_DECADES = (-2, -1, 0, 1)  # |w| in [0.01, 0.1) ... [10, 100)


# What a grown child's outcome says for its magnitudes and sign, in [0, 1] (see `outcome_rewards`).
IMPROVED = 1.0     # it scored above its parent
WORSE = (0.3, 0.9)  # it scored below its parent: from the farthest below to the nearest, by rank (cubed)
NO_EFFECT = 0.15   # a functional duplicate, or a score equal to its parent's: the term changed nothing that counts
CUT = 0.15         # a cascade stage cut it: it changed the program clearly for the worse
FAILED = 0.0       # it raised or timed out


def outcome_rewards(children: list[dict]) -> list[float | None]:
    """What each grown child's outcome says for its magnitudes and sign (None while it has none).

    Quality, not mere change, is what is learnt: a child that scored above its parent is what is looked
    for; one below it counts by how near it came, ranked against the other children below their parents
    (scale-free: scores of different tasks share no unit), the cube of its rank so that the nearest count
    most. A term with no effect (a weight too small, a threshold no input reaches) and one the cascade
    cut (too large, or the wrong sign) are both misses, and count alike, below any scored child: the
    search is pushed neither toward terms too small to matter nor toward terms that wreck the program.
    Rewarding every change alike drives bin packing's terms to `bins % 0.3`-like noise: large
    thresholds often change nothing, while small ones always change something, for the worse.
    """
    gaps = [_gap(child) for child in children]
    below = sorted(g for g in gaps if g is not None and g < 0)
    rewards = []
    for child, gap in zip(children, gaps):
        state = child["state"]
        if state == "functional_duplicate":
            rewards.append(NO_EFFECT)
        elif state == "cut":
            rewards.append(CUT)
        elif state != "evaluated":
            rewards.append(None)  # pending (or a textual duplicate, which grow_expression never proposes)
        elif child.get("status") != "ok":
            rewards.append(FAILED)
        elif gap is None:
            rewards.append(sum(WORSE) / 2)  # its parent has no score to compare with
        elif gap > 0:
            rewards.append(IMPROVED)
        elif gap == 0:
            rewards.append(NO_EFFECT)
        else:
            rank = (bisect.bisect_left(below, gap) + bisect.bisect_right(below, gap)) / 2 / len(below)
            rewards.append(WORSE[0] + (WORSE[1] - WORSE[0]) * rank ** 3)
    return rewards


def _gap(child: dict) -> float | None:
    """The child's training score minus its parent's, or None when either is unknown."""
    if child["state"] != "evaluated" or child.get("status") != "ok":
        return None
    score, parent = child.get("score"), child.get("parent_score")
    if score is None or parent is None:
        return None
    return score - parent


@dataclasses.dataclass(frozen=True)
class TermArm:
    template: int
    variable: str
    k_decade: int
    weight_decade: int
    sign: int


POOLED = 0.5  # what a grown child of another parent in the campaign counts for, against one of this parent


def _term_arm(rng: random.Random, templates: list[int], names: list[str], history: list[dict],
              campaign: list[dict] = ()) -> TermArm:
    """The template, variable, magnitudes and sign of a new term, each by Thompson sampling on how this
    parent's earlier grown children fared, and at POOLED weight the campaign's other grown children (a
    task's invariances hold for every parent: on bin packing a term in `item` alone never changes which
    bin wins). Template and variable learn whether a term changes behaviour at all: a child that behaved
    exactly like a known program (a functional duplicate: a term with no effect, such as a monotone
    function of what a ranking already sorts by) counts against them, any other for them; a structure
    that changes behaviour is what tuning can then make pay. Magnitudes and the sign (per variable:
    `score % k` is about `-(remaining % k)`) learn from how the child fared (`outcome_rewards`). Learnt
    apart, a handful of arms each need few children."""
    wins: dict = {}
    losses: dict = {}
    own = {child.get("program_id") for child in history}
    weighted = [(child, 1.0) for child in history]
    weighted += [(child, POOLED) for child in campaign if child.get("program_id") not in own]
    for (child, weight), reward in zip(weighted, outcome_rewards([child for child, _ in weighted])):
        details = child["edit"].get("details") or {}
        arm = details.get("term")
        if not arm or reward is None:
            continue
        changed = 0.0 if child["state"] == "functional_duplicate" else 1.0
        scored = [(("t", arm[0]), changed), (("v", arm[1]), changed)]
        magnitude = details.get("magnitude")
        if magnitude:
            scored += [(("w", magnitude["weight_decade"]), reward), (("s", arm[1], magnitude["sign"]), reward)]
            if magnitude.get("k_decade") is not None:
                scored.append((("k", magnitude["k_decade"]), reward))
        for key, value in scored:
            wins[key] = wins.get(key, 0) + weight * value
            losses[key] = losses.get(key, 0) + weight * (1.0 - value)
    template = _thompson(rng, [("t", t) for t in templates], wins, losses)[1]
    variable = _thompson(rng, [("v", n) for n in names], wins, losses)[1]
    return TermArm(template, variable, _thompson(rng, [("k", d) for d in K_DECADES], wins, losses)[1],
                   _thompson(rng, [("w", d) for d in WEIGHT_DECADES], wins, losses)[1],
                   _thompson(rng, [("s", variable, 1), ("s", variable, -1)], wins, losses)[2])


@operator("grow_expression", 1.0, learns=True)
def grow_expression(tree, found, rng, donor):
    """`return X` becomes `return X + w * term(variables, k)`: lets the search add structure, not only tune it.
    The term's template and variable, the decades of k and |w| and the sign of w are learnt (`_term_arm`),
    each magnitude drawn log-uniformly within its decade; `tune_constants` refines whatever structure pays
    off (it searches magnitudes in log space)."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    if not functions:
        return None
    function = rng.choice(functions)
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None]
    if any(is_categorical(r.value) for r in returns):  # returns a choice (SPOT, "left"): adding a number breaks it
        return None
    if not returns:
        return None
    target = rng.choice(returns)
    names = names_defined_before(function, target)  # a term may only read what is bound at the return
    if not names:
        return None
    arm = _term_arm(rng, list(range(len(_GROW_TEMPLATES))), names, found.history("grow_expression"),
                    found.campaign("grow_expression"))
    template, variable = arm.template, arm.variable
    second = rng.choice([n for n in names if n != variable] or names)
    k = float(f"{10 ** (arm.k_decade + rng.random()):.2g}")
    weight = float(f"{arm.sign * 10 ** (arm.weight_decade + rng.random()):.3g}")
    pattern = _GROW_TEMPLATES[template]
    text = pattern.format(a=variable, b=second, k=repr(k))
    term = ast.parse(f"{weight!r} * ({text})", mode="eval").body
    target.value = ast.BinOp(left=target.value, op=ast.Add(), right=term)
    magnitude = {"k_decade": arm.k_decade if "{k}" in pattern else None, "weight_decade": arm.weight_decade,
                 "sign": arm.sign}
    return (f"added {weight!r} * ({text}) to the return value (line {target.lineno})",
            {"term": [template, variable], "magnitude": magnitude})
