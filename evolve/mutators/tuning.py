"""`tune_constants`: CMA-ES over all float literals of an elite, each probe an ordinary child.

Why CMA-ES (the `cma` package) and not Optuna: a tuning run is a local search around the
elite's own values under 12 evaluations; CMA-ES starts from that point with a step size we
choose, while Optuna's default TPE sampler spends its first 10 trials on random draws from a
box we would have to invent. `cma` needs only numpy, and its ask/tell state is a pure function
of its seed and the (vector, score) pairs told, which is what lets a run be rebuilt from the
archive after a restart.

A run belongs to a parent program. Its state is never stored: every proposal rebuilds it by
replaying the parent's earlier `tune_constants` children (recorded vector, training score) in
slot order, so a resumed campaign continues exactly where it stopped. A generation is told
once all its probes are scored (several are in flight at once); until then the run waits and
the mutator picks another operator. Probes cut by a cascade stage are told a score worse than any
seen, ranked among themselves by how far they got and their stage score; failed probes rank last.
"""
from __future__ import annotations

import ast
import math
import random
import warnings
from typing import Any

import numpy as np

from ..code import find_blocks, replace_block
from .ast_operators import program_operator

BUDGET = 12          # evaluations per tuning run (one run per parent program)
SIGMA0 = 0.7         # initial step in log space: a probe scales a literal by about e^±0.7 (x2)
ZERO_SCALE = 0.1     # a literal 0.0 has no magnitude to scale: it moves by ZERO_SCALE x z instead
LOG_SPACE = "log"    # recorded with each probe
FINE_SPACE = "fine"  # additive steps relative to each literal's magnitude (runs recorded with no space: the same)
FINE_SIGMA0 = 0.3    # their initial step, relative to each literal's magnitude
MAX_LITERALS = 12
NAME = "tune_constants"
# operators that change no structure: a program they made gets a tuning run only if it is the best around
UNSTRUCTURAL = {"seed", NAME, "perturb_constant"}


def _cma():
    with warnings.catch_warnings():  # cma warns at import when matplotlib is absent; plotting is not used
        warnings.simplefilter("ignore")
        import cma
    return cma


def _block_trees(code: str):
    import textwrap
    lines = code.splitlines(keepends=True)
    for block in find_blocks(code):
        text = "".join(lines[block.start:block.end])
        dedented = textwrap.dedent(text)
        indent = text[: len(text) - len(text.lstrip())].split("\n")[-1] if text.strip() else ""
        try:
            yield block, ast.parse(dedented), indent
        except SyntaxError:
            continue


def _sites(tree: ast.AST) -> list[tuple[ast.AST, float]]:
    """Float literals in source order; `-1.5` (a negated literal) is one site with value -1.5."""
    negated = {id(n.operand) for n in ast.walk(tree)
               if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and id(node.operand) in negated and isinstance(node.operand.value, float):
            found.append((node, -node.operand.value))
        elif isinstance(node, ast.Constant) and type(node.value) is float and id(node) not in negated:
            found.append((node, node.value))
    return sorted(found, key=lambda s: (s[0].lineno, s[0].col_offset))


def literals(code: str) -> list[float]:
    """The float literals `tune_constants` optimises, across all EVOLVE blocks, in source order."""
    return [value for _, tree, _ in _block_trees(code) for _, value in _sites(tree)][:MAX_LITERALS]


class _Replace(ast.NodeTransformer):
    def __init__(self, values: dict[int, float]):
        self.values = values

    def visit(self, node):
        if id(node) in self.values:
            value = self.values[id(node)]
            return ast.Constant(value) if value >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-value))
        return super().visit(node)


def with_literals(code: str, values: list[float]) -> str:
    """`code` with its tunable literals set to `values` (5 significant digits)."""
    remaining = list(values)
    for block, tree, indent in reversed(list(_block_trees(code))):
        sites = _sites(tree)
        count = sum(len(_sites(t)) for b, t, _ in _block_trees(code) if b.start < block.start)
        chosen = {id(node): float(f"{remaining[count + i]:.5g}") for i, (node, _) in enumerate(sites)
                  if count + i < len(remaining)}
        if not chosen:
            continue
        import textwrap
        tree = ast.fix_missing_locations(_Replace(chosen).visit(tree))
        code = replace_block(code, block, textwrap.indent(ast.unparse(tree), indent))
    return code


def _strategy(n: int, seed: int, sigma0: float):
    popsize = min(8, 4 + int(3 * math.log(n)))
    return _cma().CMAEvolutionStrategy([0.0] * n, sigma0, {"seed": seed, "popsize": popsize, "verbose": -9,
                                                           "CMA_diagonal": False})


def next_probe(n: int, seed: int, history: list[dict[str, Any]], parent_f: float,
               budget: int = BUDGET, sigma0: float = SIGMA0) -> tuple[int, list[float]] | None:
    """(slot, z) of the run's next probe, or None while a generation awaits scores or the budget is spent.

    `history`: earlier probes as {"slot", "z", "f"} with f None while pending (lower f is better).
    """
    by_slot: dict[int, dict[str, Any]] = {}
    for entry in history:
        by_slot.setdefault(entry["slot"], entry)   # a probe proposed twice (a duplicate) counts once
    state = np.random.get_state()                  # cma seeds numpy's global generator; leave it as found
    try:
        es = _strategy(n, seed, sigma0)
        slot, worst = 0, parent_f
        while slot < budget:
            zs = es.ask()
            generation = [by_slot.get(slot + i) for i in range(len(zs))]
            missing = [i for i, e in enumerate(generation) if e is None]
            if missing:
                index = missing[0]
                return (slot + index, [float(z) for z in zs[index]]) if slot + index < budget else None
            if any(e["f"] is None for e in generation):
                return None
            worst = max([worst, *(e["f"] for e in generation if math.isfinite(e["f"]))])
            es.tell([np.asarray(e["z"], dtype=float) for e in generation], _told(generation, worst))
            slot += len(zs)
        return None
    finally:
        np.random.set_state(state)


def _cascade_progress(entry: dict[str, Any]) -> tuple[int, float]:
    """How far a cut probe got: stage evaluations run, then its score at the last one (higher is further)."""
    score = entry["stage"]["score"]
    return entry["stage"]["evaluations"], score if score is not None and math.isfinite(score) else -math.inf


def _told(generation: list[dict[str, Any]], worst: float) -> list[float]:
    """What CMA-ES is told for a generation (lower is better; it uses only the ranks). A probe without a
    training score ranks below every scored one: a cut probe by how far it got through the cascade and
    its score at the stage that cut it (so a generation of mostly cut probes still says which way is
    better), a failed one below all of them. `worst`: the worst training score seen, this generation's
    included."""
    floor = worst + 1.0 + abs(worst) * 0.1
    cut = sorted((e for e in generation if not math.isfinite(e["f"]) and e.get("stage")), key=_cascade_progress,
                 reverse=True)
    rank = {id(e): i for i, e in enumerate(cut)}
    return [e["f"] if math.isfinite(e["f"]) else floor + rank.get(id(e), len(cut)) for e in generation]


def _history(children: list[dict[str, Any]]) -> tuple[int | None, list[dict[str, Any]]]:
    seed, entries = None, []
    for child in children:
        tuning = (child["edit"].get("details") or {}).get("tuning")
        if not tuning:
            continue
        seed = tuning["seed"] if seed is None else seed
        stage = None
        if child["status"] is None:  # pending or cut by a cascade stage (itself, or the program it duplicates)
            cut = child.get("outcome_state", child["state"]) == "cut"
            f, stage = (math.inf, child.get("stage")) if cut else (None, None)
        else:
            score = child["score"]
            f = -score if child["status"] == "ok" and score is not None else math.inf
        entries.append({"slot": tuning["slot"], "z": tuning["z"], "f": f, "space": tuning.get("space"),
                        "stage": stage})
    return seed, entries


def probe_values(x0: list[float], z: list[float], space: str | None) -> list[float]:
    """The literals of a probe at CMA-ES point z. In log space each literal keeps its sign and its
    magnitude is multiplied by e^z (a threshold of 3 and a weight of 300 move by the same factors: the
    scale a literal should have is what is unknown); in fine space (and in runs older releases recorded,
    space None) it moves additively by z x its magnitude (at least 0.1)."""
    if space != LOG_SPACE:
        return [v + max(abs(v), 0.1) * zi for v, zi in zip(x0, z)]
    return [v * math.exp(zi) if v != 0 else ZERO_SCALE * zi for v, zi in zip(x0, z)]


def continues_a_run(context) -> bool:
    """True when the parent has a tuning run begun and not yet spent: the mutator then gives the run
    most of the parent's turns, since a run only moves when its parent is picked, and a run that
    moves one probe per dozen picks never gets anywhere within a campaign."""
    if context is None:
        return False
    slots = {(c["edit"].get("details") or {}).get("tuning", {}).get("slot")
             for c in context.history.children(NAME)}
    slots.discard(None)
    return 0 < len(slots) < BUDGET


def begins_a_run(context) -> bool:
    """True when the parent is a new structure (made by an operator that adds or moves code: a grown term,
    a crossover) with float literals and no tuning run yet. Its literals came with the edit, drawn blind,
    so the structure competes untuned: a term of the right shape with a weight a factor 10 off scores
    below its parent and would rarely be picked again. The mutator gives such a parent's turn to starting
    its run as it gives a begun run its turns."""
    if context is None or context.parent.score is None or context.parent.operator in UNSTRUCTURAL:
        return False
    if any((c["edit"].get("details") or {}).get("tuning") for c in context.history.children(NAME)):
        return False
    return bool(literals(context.parent.code))


@program_operator(NAME, 2.0)
def tune_constants(code: str, rng: random.Random, context):
    """The next CMA-ES probe of the parent's tuning run: (child code, description, details) or None.

    A run starts on a parent whose structure is new (made by an operator other than the constant
    edits: a grown term or a crossover usually arrives with untuned weights), or on one at least
    as good as every inspiration (the island's best elite, which the controller picks as parent for
    exploitation); a started run continues whenever its parent is picked again, until its budget
    is spent.
    """
    if context is None or context.parent.score is None:
        return None
    x0 = literals(code)
    if not x0:
        return None
    parent = context.parent
    seed, history = _history(context.history.children(NAME))
    fresh_structure = parent.operator not in UNSTRUCTURAL
    if seed is None:
        if not fresh_structure and any(i.score is not None and i.score > parent.score for i in context.inspirations):
            return None
        seed = rng.randrange(1, 2**31 - 1)
    # Coarse to fine: a new structure's literals (a grown term's weight and threshold) have no known scale,
    # so its run searches magnitudes; a program whose literals were already tuned, or chosen by the task's
    # author (the seed), is refined by relative steps that may also cross zero.
    space = history[0]["space"] if history else (LOG_SPACE if fresh_structure else FINE_SPACE)
    sigma0 = SIGMA0 if space == LOG_SPACE else FINE_SIGMA0
    probe = next_probe(len(x0), seed, history, -parent.score, sigma0=sigma0)
    if probe is None:
        return None
    slot, z = probe
    values = probe_values(x0, z, space)
    child = with_literals(code, values)
    shown = ", ".join(f"{a:.4g}->{b:.4g}" for a, b in zip(x0, values))
    details = {"tuning": {"seed": seed, "slot": slot, "budget": BUDGET, "z": z, "space": space,
                          "values": [float(f"{v:.5g}") for v in values]}}
    return child, f"CMA-ES probe {slot + 1}/{BUDGET} of the constants: {shown}", details
