"""Properties that pin MAP-Elites semantics: the grid, parent/inspiration sampling, cell competition.

Grid and sampler are pure functions; competition, migration, `elites` and `best` run on a real
SQLite archive. A reference model (a dict of cells) states each rule once; every property
compares the code against it. `bench/mutation_report.py` measures how many mutants these kill.
"""
import itertools
import math
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from archive import Archive, Axis, Grid, SamplingWeights
from archive.schema import Event
from archive.sampling import Elite, choose_inspirations, choose_parent
from evaluators.contract import EvaluationResult, Status

PURE = settings(max_examples=150, deadline=None)
# every example of these is a fresh campaign in one SQLite archive per test module; the mutation
# profile (tests/conftest.py) lowers the count, since a surviving mutant reruns every DB property
DB = settings(max_examples=min(30, settings.default.max_examples), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@st.composite
def axes(draw, name="a"):
    low = draw(finite)
    width = draw(st.floats(min_value=1e-3, max_value=1e6))
    high = low + width
    assume(high > low)
    return Axis(name, low, high, draw(st.integers(1, 12)))


@st.composite
def grids(draw, max_axes=3):
    count = draw(st.integers(1, max_axes))
    return Grid(tuple(draw(axes(name=f"d{i}")) for i in range(count)))


def small_grids(max_axes=2, max_bins=4):
    """Grids whose every cell can be listed: for the sampler and competition properties."""
    axis = st.builds(lambda bins, low: Axis("x", low, low + 1.0, bins), st.integers(1, max_bins),
                     st.integers(-3, 3).map(float))
    return st.lists(axis, min_size=1, max_size=max_axes).map(
        lambda found: Grid(tuple(Axis(f"d{i}", a.low, a.high, a.bins) for i, a in enumerate(found))))


def chebyshev(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return max(abs(x - y) for x, y in zip(a, b))


# ---- the axis -------------------------------------------------------------------------------

@PURE
@given(axes(), st.data())
def test_a_value_inside_the_range_lands_in_the_bin_whose_edges_contain_it(axis, data):
    value = data.draw(st.floats(min_value=axis.low, max_value=axis.high, exclude_max=True))
    index = axis.index(value)
    low, high = axis.edges(index)
    assert 0 <= index < axis.bins
    assert low <= value < high


@PURE
@given(axes(), st.data())
def test_edges_tile_the_range_without_gaps(axis, data):
    assert axis.edges(0)[0] == axis.low
    assert axis.edges(axis.bins - 1)[1] == axis.high
    for i in range(axis.bins - 1):
        assert axis.edges(i)[1] == axis.edges(i + 1)[0]
        assert axis.edges(i)[0] < axis.edges(i)[1]
    i = data.draw(st.integers(0, axis.bins - 1))
    assert axis.index(axis.edges(i)[0]) == i  # a bin's lower edge belongs to it ([low, high))


@PURE
@given(axes(), st.data())
def test_values_at_or_above_the_top_edge_land_in_the_last_bin(axis, data):
    above = data.draw(st.one_of(st.just(axis.high), st.floats(min_value=axis.high, allow_nan=False)))
    assert axis.index(above) == axis.bins - 1


@PURE
@given(axes(), st.data())
def test_values_below_the_range_land_in_bin_zero(axis, data):
    below = data.draw(st.floats(max_value=axis.low, exclude_max=True, allow_nan=False))
    assert axis.index(below) == 0


@PURE
@given(axes())
def test_missing_and_nan_values_land_in_bin_zero(axis):
    assert axis.index(None) == 0
    assert axis.index(float("nan")) == 0


@PURE
@given(axes(), st.data())
def test_the_index_never_decreases_as_the_value_grows(axis, data):
    values = data.draw(st.lists(st.floats(allow_nan=False), min_size=2, max_size=8))
    indices = [axis.index(v) for v in sorted(values)]
    assert indices == sorted(indices)


def test_integer_values_and_bin_edges_of_a_plain_axis():
    axis = Axis("a", 0.0, 1.0, 10)
    assert [axis.index(v) for v in (0, 0.05, 0.1, 0.3, 0.7, 0.95, 1, 2)] == [0, 0, 1, 3, 7, 9, 9, 9]
    assert axis.edges(3) == (0.3, 0.4)
    assert Axis("b", -1.0, 1.0, 2).index(0) == 1


# ---- the grid -------------------------------------------------------------------------------

@PURE
@given(grids(), st.data())
def test_a_key_is_the_comma_joined_axis_indices_and_parses_back(grid, data):
    values = {a.name: data.draw(st.one_of(st.none(), st.floats()), label=a.name) for a in grid.axes}
    key = grid.key(values)
    assert key == ",".join(str(a.index(values[a.name])) for a in grid.axes)
    assert grid.parse(key) == tuple(a.index(values[a.name]) for a in grid.axes)
    assert key in grid.all_keys()
    assert grid.key({}) == ",".join("0" for _ in grid.axes)  # a missing descriptor is bin 0


@PURE
@given(grids())
def test_all_keys_lists_every_cell_once(grid):
    keys = grid.all_keys()
    assert len(keys) == len(set(keys)) == grid.size == math.prod(a.bins for a in grid.axes)
    expected = {",".join(map(str, c)) for c in itertools.product(*(range(a.bins) for a in grid.axes))}
    assert set(keys) == expected


@PURE
@given(grids(), st.data())
def test_neighbours_are_exactly_the_cells_at_chebyshev_distance_one(grid, data):
    key = data.draw(st.sampled_from(grid.all_keys()))
    origin = grid.parse(key)
    neighbours = grid.neighbours(key)
    assert len(neighbours) == len(set(neighbours))
    assert set(neighbours) == {k for k in grid.all_keys() if chebyshev(grid.parse(k), origin) == 1}


def test_neighbours_at_a_corner_and_in_the_middle():
    grid = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 3}, {"name": "b", "range": [0, 1], "bins": 3}])
    assert sorted(grid.neighbours("0,0")) == ["0,1", "1,0", "1,1"]
    assert len(grid.neighbours("1,1")) == 8 and "1,1" not in grid.neighbours("1,1")
    assert sorted(grid.neighbours("2,2")) == ["1,1", "1,2", "2,1"]
    assert Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 1}]).neighbours("0") == []


def test_a_grid_without_axes_is_one_cell_with_no_neighbours():
    grid = Grid(())
    assert grid.key({"anything": 1.0}) == "0"
    assert grid.all_keys() == ["0"] and grid.size == 1
    assert grid.neighbours("0") == []


def test_from_specs_reads_name_range_and_bins():
    grid = Grid.from_specs([{"name": "x", "range": [1, 3], "bins": 4}, {"name": "y", "range": [-2, 0], "bins": 2}])
    assert grid.axes == (Axis("x", 1.0, 3.0, 4), Axis("y", -2.0, 0.0, 2))
    assert grid.names == ["x", "y"] and grid.size == 8


# ---- parent sampling ------------------------------------------------------------------------

@st.composite
def populations(draw, min_size=1):
    """A grid and the elites of one island: at most one per cell, unique program ids."""
    grid = draw(small_grids().filter(lambda g: g.size >= min_size))
    keys = draw(st.lists(st.sampled_from(grid.all_keys()), min_size=min_size, unique=True))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=len(keys), max_size=len(keys), unique=True))
    scores = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0]), min_size=len(keys), max_size=len(keys)))
    return grid, [Elite(i, k, s) for i, k, s in zip(ids, keys, scores)]


def frontier_of(grid, elites):
    filled = {e.key for e in elites}
    return {e.program_id for e in elites if any(n not in filled for n in grid.neighbours(e.key))}


def top(elites):
    return min(elites, key=lambda e: (-e.score, e.program_id))


EXPLOIT, EXPLORE, FRONTIER = SamplingWeights(1, 0, 0), SamplingWeights(0, 1, 0), SamplingWeights(0, 0, 1)


@pytest.mark.slow
@PURE
@given(populations(), st.integers(0, 2**32))
def test_exploit_returns_the_top_score_with_ties_to_the_lowest_id(population, seed):
    grid, elites = population
    parent, mode = choose_parent(elites, grid, random.Random(seed), EXPLOIT)
    assert mode == "exploit" and parent == top(elites)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(populations())
def test_frontier_parents_have_an_empty_neighbour_and_every_such_elite_is_chosen(population):
    grid, elites = population
    frontier = frontier_of(grid, elites)
    picks = [choose_parent(elites, grid, random.Random(seed), FRONTIER) for seed in range(300)]
    if frontier:
        assert {mode for _, mode in picks} == {"frontier"}
        assert {p.program_id for p, _ in picks} == frontier
    else:  # a full map has no frontier: the parent is a uniformly random elite instead
        assert {mode for _, mode in picks} == {"explore"}
        assert {p.program_id for p, _ in picks} == {e.program_id for e in elites}


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(populations())
def test_explore_can_choose_every_elite(population):
    grid, elites = population
    picks = [choose_parent(elites, grid, random.Random(seed), EXPLORE) for seed in range(300)]
    assert {mode for _, mode in picks} == {"explore"}
    assert {p.program_id for p, _ in picks} == {e.program_id for e in elites}


@pytest.mark.slow
@PURE
@given(populations(), st.integers(0, 2**32), st.sampled_from([SamplingWeights(), EXPLORE, FRONTIER]))
def test_the_parent_depends_on_the_seed_not_on_the_order_of_the_elites(population, seed, weights):
    grid, elites = population
    shuffled = random.Random(seed).sample(elites, len(elites))
    assert choose_parent(elites, grid, random.Random(seed), weights) == \
        choose_parent(shuffled, grid, random.Random(seed), weights)


def test_modes_follow_the_configured_proportions():
    grid = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 5}])
    elites = [Elite(1, "0", 1.0), Elite(2, "2", 3.0), Elite(3, "4", 2.0)]  # each borders an empty cell
    for weights in (SamplingWeights(0.4, 0.4, 0.2), SamplingWeights(0.1, 0.6, 0.3), SamplingWeights(2, 1, 1)):
        rng = random.Random(7)
        draws = 4000
        modes = Counter(choose_parent(elites, grid, rng, weights)[1] for _ in range(draws))
        total = weights.exploit + weights.explore + weights.frontier
        for mode, weight in (("exploit", weights.exploit), ("explore", weights.explore),
                             ("frontier", weights.frontier)):
            expected = draws * weight / total
            assert abs(modes[mode] - expected) < 5 * math.sqrt(expected), (weights, modes)
    # exploit draws the top elite, the others spread over all three
    rng = random.Random(1)
    picks = Counter(choose_parent(elites, grid, rng, SamplingWeights(0, 1, 1))[0].program_id for _ in range(3000))
    assert all(abs(picks[i] - 1000) < 5 * math.sqrt(1000) for i in (1, 2, 3)), picks


def test_frontier_ignores_elites_whose_neighbours_are_all_filled():
    grid = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 3}])
    full = [Elite(1, "0", 0.0), Elite(2, "1", 5.0), Elite(3, "2", 1.0)]
    assert {choose_parent(full, grid, random.Random(s), FRONTIER)[1] for s in range(50)} == {"explore"}
    inner = [Elite(1, "0", 0.0), Elite(2, "1", 5.0)]  # "2" is empty: only elite 2 borders it
    assert {choose_parent(inner, grid, random.Random(s), FRONTIER)[0].program_id for s in range(50)} == {2}


# ---- inspirations ---------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(populations(min_size=2), st.integers(0, 4), st.integers(-1, 3), st.integers(0, 2**32))
def test_inspirations_are_the_top_elites_then_far_ones(population, top_n, diverse, seed):
    grid, elites = population
    parent = random.Random(seed).choice(elites)
    weights = SamplingWeights(top_inspirations=top_n, diverse_inspirations=diverse)
    picks = choose_inspirations(elites, parent, grid, random.Random(seed), weights)
    others = sorted((e for e in elites if e != parent), key=lambda e: (-e.score, e.program_id))
    best, rest = others[:top_n], others[top_n:]
    assert parent not in picks and len(picks) == len(set(picks))
    assert picks[:len(best)] == best
    diverse_picks = picks[len(best):]
    assert len(diverse_picks) == (min(diverse, len(rest)) if diverse > 0 else 0)
    origin = grid.parse(parent.key)

    def distance(e):
        return sum(abs(a - b) for a, b in zip(grid.parse(e.key), origin))

    pool = sorted(rest, key=lambda e: (-distance(e), e.program_id))[:max(4, 2 * diverse)]
    assert set(diverse_picks) <= set(pool)
    shuffled = random.Random(seed + 1).sample(elites, len(elites))
    assert picks == choose_inspirations(shuffled, parent, grid, random.Random(seed), weights)


def test_every_far_elite_can_be_an_inspiration_and_near_ones_never_are():
    grid = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 10}])
    elites = [Elite(i, str(i), float(i == 9)) for i in range(10)]  # elite 9 is the top one
    parent = elites[0]
    weights = SamplingWeights(top_inspirations=1, diverse_inspirations=1)
    chosen = Counter()
    for seed in range(400):
        picks = choose_inspirations(elites, parent, grid, random.Random(seed), weights)
        assert picks[0].program_id == 9 and len(picks) == 2
        chosen[picks[1].program_id] += 1
    assert set(chosen) == {8, 7, 6, 5}  # the four farthest after the top one: max(4, 2 * 1)
    wide = SamplingWeights(top_inspirations=0, diverse_inspirations=3)
    far = {p.program_id for s in range(400) for p in choose_inspirations(elites, parent, grid, random.Random(s), wide)}
    assert far == {9, 8, 7, 6, 5, 4}  # 2 * 3 farthest
    assert choose_inspirations(elites[:3], parent, grid, random.Random(0), weights) == [elites[1], elites[2]]
    assert choose_inspirations(elites, parent, grid, random.Random(0),
                               SamplingWeights(top_inspirations=2, diverse_inspirations=0)) == [elites[9], elites[1]]
    assert choose_inspirations(elites, parent, grid, random.Random(0),  # a count below one means none
                               SamplingWeights(top_inspirations=1, diverse_inspirations=-1)) == [elites[9]]


# ---- cell competition on a real archive -----------------------------------------------------

GRID2 = Grid.from_specs([{"name": "a", "range": [0, 1], "bins": 2}, {"name": "b", "range": [0, 1], "bins": 2}])


@pytest.fixture(scope="module")
def shared_archive(tmp_path_factory):
    """One SQLite file for a property's examples: each example is its own campaign in it."""
    archive = Archive(str(tmp_path_factory.mktemp("props") / "a.db"))
    yield archive
    archive.close()


def _campaign(archive):
    return archive.create_campaign(name=None, task_name="t", task_dir=None, config={}, seed=0, iterations=0).id


def _program(archive, cid, iteration, island=0):
    return archive.add_program(cid, iteration=iteration, code=f"p{iteration}", code_hash=f"h{iteration}",
                               parent_id=None, inspiration_ids=[], mutator="test", operator="op", edit={},
                               generation=0, island=island, state="pending")


def _result(score, a, b):
    return EvaluationResult(Status.OK, score=score, descriptors={"a": a, "b": b})


class Model:
    """The reference: a dict (island, key) -> (score, program id) under the stated rules."""

    def __init__(self):
        self.cells: dict[tuple[int, str], tuple[float, int]] = {}

    def compete(self, island, key, score, program_id) -> bool:
        held = self.cells.get((island, key))
        if held is None or score > held[0]:  # strictly higher replaces; a tie keeps the incumbent
            self.cells[(island, key)] = (score, program_id)
            return True
        return False

    def island(self, island):
        return {(k, p, s) for (i, k), (s, p) in self.cells.items() if i == island}

    def best_over_islands(self):
        found = {}
        for (_, key), (score, pid) in self.cells.items():
            if key not in found or (-score, pid) < (-found[key][0], found[key][1]):
                found[key] = (score, pid)
        return {(k, p, s) for k, (s, p) in found.items()}

    def top(self):
        return min(((s, p) for s, p in self.cells.values()), key=lambda sp: (-sp[0], sp[1]), default=None)


placements = st.lists(st.tuples(st.sampled_from([0.0, 1.0, 2.0, 3.0]),            # score: ties are common
                                st.sampled_from([0.1, 0.9]), st.sampled_from([0.1, 0.9]),  # cell
                                st.lists(st.integers(0, 2), max_size=3, unique=True)),  # islands it enters
                      min_size=1, max_size=10)


def _as_set(elites):
    return {(e.key, e.program_id, e.score) for e in elites}


@pytest.mark.slow
@DB
@given(placements)
def test_a_cell_keeps_its_elite_unless_a_strictly_higher_score_arrives(shared_archive, steps):
    archive = shared_archive
    cid, model, expected_events = _campaign(archive), Model(), []
    for iteration, (score, a, b, islands) in enumerate(steps):
        home = islands[0] if islands else iteration % 3  # the island the program was bred on
        pid = _program(archive, cid, iteration, island=home)
        before = model.top()
        key = GRID2.key({"a": a, "b": b})
        changed = [model.compete(i, key, score, pid) for i in islands]
        outcome = archive.record_training(pid, "train", _result(score, a, b), grid=GRID2, islands=islands)
        assert outcome.key == key
        assert outcome.new_elite == any(changed)
        assert outcome.new_best == (any(changed) and (before is None or score > before[0]))
        if any(changed):
            expected_events.append(("new_best" if outcome.new_best else "new_elite", pid,
                                    {"cell": key, "score": score, "island": home}))
        for island in range(3):
            assert _as_set(archive.elites(cid, island)) == model.island(island)
        assert _as_set(archive.elites(cid)) == model.best_over_islands()
        best = archive.best(cid)
        if model.top() is None:
            assert best is None
        else:
            program, evaluation = best
            assert program.id == model.top()[1] and evaluation.score == model.top()[0]
            assert evaluation.split == "train" and evaluation.program_id == program.id
    assert [(e.kind, e.program_id, e.data) for e in _events(archive, cid)] == expected_events


def _events(archive, cid):
    with archive.session() as s:
        return list(s.scalars(select(Event).where(Event.campaign_id == cid, Event.kind.in_(("new_elite", "new_best")))
                              .order_by(Event.id)))


def test_placement_events_name_the_cell_score_and_island(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = _campaign(archive)
    p1, p2, p3, p4 = (_program(archive, cid, i, island=i % 2) for i in range(4))
    assert archive.record_training(p1, "train", _result(1.0, 0.1, 0.1), grid=GRID2, islands=[0]).new_best
    out = archive.record_training(p2, "train", _result(0.5, 0.9, 0.1), grid=GRID2, islands=[1])
    assert out.new_elite and not out.new_best and out.key == "1,0"
    out = archive.record_training(p3, "train", _result(1.0, 0.1, 0.1), grid=GRID2, islands=[0])
    assert not out.new_elite and not out.new_best  # an equal score does not replace
    out = archive.record_training(p4, "train", _result(1.0, 0.1, 0.9), grid=GRID2, islands=[1])
    assert out.new_elite and not out.new_best  # equal to the campaign's best is not a new best
    assert [(e.kind, e.program_id, e.data) for e in _events(archive, cid)] == [
        ("new_best", p1, {"cell": "0,0", "score": 1.0, "island": 0}),
        ("new_elite", p2, {"cell": "1,0", "score": 0.5, "island": 1}),
        ("new_elite", p4, {"cell": "0,1", "score": 1.0, "island": 1})]
    assert archive.best(cid)[0].id == p1  # ties between cells go to the lowest program id
    archive.close()


def test_a_failed_evaluation_never_competes(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = _campaign(archive)
    pid = _program(archive, cid, 0)
    out = archive.record_training(pid, "train", EvaluationResult.failure(Status.CRASHED, "x" * 400), grid=GRID2,
                                    islands=[0])
    assert (out.key, out.new_elite, out.new_best) == (None, False, False)
    assert archive.elites(cid) == [] and archive.best(cid) is None
    assert archive.program(pid).state == "evaluated"
    (event,) = [e for e in archive.events(cid) if e.kind == "failure"]
    assert (event.program_id, event.data) == (pid, {"status": "crashed", "message": "x" * 300})  # bounded
    archive.close()


def test_an_evaluation_is_stored_as_reported(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = _campaign(archive)
    pid, other = _program(archive, cid, 0), _program(archive, cid, 1)
    result = EvaluationResult(Status.OK, score=1.5, metrics={"m": 2}, descriptors={"a": 0.9, "b": 0.1},
                              artifacts={"log": "x"}, wall_time=0.25, cpu_time=0.5)
    archive.record_training(pid, "train", result, grid=GRID2, islands=[0])
    stored = archive.evaluation(pid, "train")
    assert (stored.status, stored.score, stored.metrics, stored.descriptors, stored.artifacts, stored.wall_time,
            stored.cpu_time) == ("ok", 1.5, {"m": 2}, {"a": 0.9, "b": 0.1}, {"log": "x"}, 0.25, 0.5)
    assert archive.program(pid).state == "evaluated" and archive.elites(cid, 0) == [archive.elites(cid)[0]]
    # a reporting split never competes and leaves the program's state alone
    assert archive.record_report(other, "test", result).score == 1.5
    assert archive.program(other).state == "pending" and {e.program_id for e in archive.elites(cid)} == {pid}
    archive.close()


# ---- migration ------------------------------------------------------------------------------

@pytest.mark.slow
@DB
@given(placements, st.integers(1, 3), st.integers(1, 3))
def test_migration_moves_each_islands_best_to_the_next_under_the_same_rule(shared_archive, steps, islands,
                                                                           rounds):
    archive = shared_archive
    cid, model = _campaign(archive), Model()
    for iteration, (score, a, b, entered) in enumerate(steps):
        pid = _program(archive, cid, iteration)
        key = GRID2.key({"a": a, "b": b})
        for i in entered:
            model.compete(i, key, score, pid)
        archive.record_training(pid, "train", _result(score, a, b), grid=GRID2, islands=entered)
    expected_logs = []
    for round_index in range(rounds):
        moved = []
        if islands >= 2:
            for island in range(islands):
                held = [(s, p, k) for (i, k), (s, p) in model.cells.items() if i == island]
                if held:
                    s, p, k = min(held, key=lambda c: (-c[0], c[1]))
                    moved.append((p, k, s, (island + 1) % islands))
            for p, k, s, target in moved:
                model.compete(target, k, s, p)
            expected_logs.append({"round": round_index, "moved": [[p, t] for p, _, _, t in moved]})
        archive.migrate(cid, islands, GRID2, round_index)
        for island in range(3):  # island 2 is outside a ring of two: untouched
            assert _as_set(archive.elites(cid, island)) == model.island(island)
    with archive.session() as s:
        logged = list(s.scalars(select(Event).where(Event.campaign_id == cid, Event.kind == "migration")
                                .order_by(Event.id)))
    assert [e.data for e in logged] == expected_logs


def test_migration_keeps_a_tied_incumbent_and_ignores_other_campaigns(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid, other = _campaign(archive), _campaign(archive)
    p1, p2 = _program(archive, cid, 0), _program(archive, cid, 1)
    q = _program(archive, other, 0)
    archive.record_training(p1, "train", _result(2.0, 0.1, 0.1), grid=GRID2, islands=[0])
    archive.record_training(p2, "train", _result(2.0, 0.1, 0.1), grid=GRID2, islands=[1])
    archive.record_training(q, "train", _result(9.0, 0.1, 0.1), grid=GRID2, islands=[0, 1])
    archive.migrate(cid, 2, GRID2, 0)
    assert _as_set(archive.elites(cid, 0)) == {("0,0", p1, 2.0)}
    assert _as_set(archive.elites(cid, 1)) == {("0,0", p2, 2.0)}
    assert _as_set(archive.elites(cid)) == {("0,0", p1, 2.0)}  # a tie over islands: the lowest program id
    assert archive.best(cid)[0].id == p1 and archive.best(other)[0].id == q
    archive.close()


@pytest.mark.parametrize("islands", [0, 1])
def test_a_single_island_does_not_migrate(tmp_path, islands):
    archive = Archive(str(tmp_path / "a.db"))
    cid = _campaign(archive)
    archive.record_training(_program(archive, cid, 0), "train", _result(1.0, 0.1, 0.1), grid=GRID2, islands=[0])
    archive.migrate(cid, islands, GRID2, 0)
    assert archive.count_events(cid, "migration") == 0
    assert len(archive.elites(cid, 0)) == 1 and archive.elites(cid, 1) == []
    archive.close()


@pytest.mark.slow
def test_migration_sends_the_lowest_id_among_tied_bests_and_replaces_a_weaker_incumbent(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = _campaign(archive)
    p1, p2, p3 = (_program(archive, cid, i) for i in range(3))
    archive.record_training(p1, "train", _result(2.0, 0.9, 0.9), grid=GRID2, islands=[0])  # cell "1,1"
    archive.record_training(p2, "train", _result(2.0, 0.1, 0.1), grid=GRID2, islands=[0])  # cell "0,0": same score
    archive.record_training(p3, "train", _result(1.0, 0.9, 0.9), grid=GRID2, islands=[1])  # weaker, on island 1
    archive.migrate(cid, 2, GRID2, 0)
    assert _as_set(archive.elites(cid, 1)) == {("1,1", p1, 2.0)}  # p1 (not p2, whose key sorts first) moved in
    assert _as_set(archive.elites(cid, 0)) == {("1,1", p1, 2.0), ("0,0", p2, 2.0)}  # p3 lost to p1 going back
    archive.close()


def test_best_reports_the_training_evaluation_not_a_later_held_out_one(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = _campaign(archive)
    pid = _program(archive, cid, 0)
    archive.record_training(pid, "train", _result(1.0, 0.1, 0.1), grid=GRID2, islands=[0])
    archive.record_report(pid, "heldout", _result(7.0, 0.1, 0.1))
    program, evaluation = archive.best(cid)
    assert program.id == pid and (evaluation.split, evaluation.score) == ("train", 1.0)
    archive.close()
