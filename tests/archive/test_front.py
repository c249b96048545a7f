"""Pareto fronts: the math, the front a real archive keeps (both backends), `evolve front` and export of a
front point on a real campaign (tests/fixtures/front_task: polynomial fits, error against FLOPs)."""
from __future__ import annotations

import itertools
import json
import math
import random
import subprocess

import pytest

from archive import Archive, Grid
from archive.pareto import Objective, Point, crowding_distances, hypervolume, nondominated
from core_support import ROOT, evolve_cmd, query
from evaluators.contract import EvaluationResult, Status

FRONT_TASK = ROOT / "tests" / "fixtures" / "front_task"
ACC_FLOPS = (Objective("accuracy", maximize=True), Objective("flops", maximize=False))
GRID = Grid.from_specs([{"name": "flops", "range": [0, 100], "bins": 4}])


# ---- the math ----------------------------------------------------------------------------
def test_two_objective_front_ties_and_hypervolume():
    points = [Point(1, (0.5, 10.0)), Point(2, (0.4, 20.0)), Point(3, (0.7, 30.0)), Point(4, (0.5, 10.0)),
              Point(5, (0.7, 25.0)), Point(6, (0.2, 5.0))]
    front, ties = nondominated(points, ACC_FLOPS)
    assert sorted(p.key for p in front) == [1, 5, 6]  # 2 dominated by 1, 3 by 5, 4 ties with 1
    assert ties == {1: [4]}
    # reference accuracy 0, flops 40: rectangles 0.2*(40-5) + (0.5-0.2)*(40-10) + (0.7-0.5)*(40-25)
    assert hypervolume(front, ACC_FLOPS, (0.0, 40.0)) == pytest.approx(0.2 * 35 + 0.3 * 30 + 0.2 * 15)
    assert hypervolume(points, ACC_FLOPS, (0.0, 40.0)) == pytest.approx(0.2 * 35 + 0.3 * 30 + 0.2 * 15)
    assert hypervolume([Point(9, (0.9, 50.0))], ACC_FLOPS, (0.0, 40.0)) == 0.0  # beyond the reference


def test_log10_objective_measures_ratios():
    objectives = (Objective("accuracy", True), Objective("flops", False, log10=True))
    assert hypervolume([Point(1, (0.5, 1e8))], objectives, (0.0, 1e10)) == pytest.approx(0.5 * 2)
    assert hypervolume([Point(1, (0.5, 0.0))], objectives, (0.0, 1e10)) == 0.0  # no finite volume at 0 FLOPs


def test_three_objective_hypervolume_equals_counting_unit_cubes():
    rng = random.Random(7)
    objectives = tuple(Objective(f"m{i}", maximize=False) for i in range(3))
    for _ in range(20):
        points = [Point(i, tuple(float(rng.randint(0, 5)) for _ in range(3))) for i in range(rng.randint(1, 8))]
        cubes = sum(1 for corner in itertools.product(range(6), repeat=3)
                    if any(all(p <= c for p, c in zip(point.values, corner)) for point in points))
        assert hypervolume(points, objectives, (6.0, 6.0, 6.0)) == cubes
        front, _ = nondominated(points, objectives)
        assert hypervolume(front, objectives, (6.0, 6.0, 6.0)) == cubes


def test_crowding_distance_gives_the_extremes_infinity():
    front = [Point(1, (0.2, 5.0)), Point(2, (0.5, 10.0)), Point(3, (0.6, 28.0)), Point(4, (0.7, 30.0))]
    distance = crowding_distances(front, ACC_FLOPS)
    assert math.isinf(distance[0]) and math.isinf(distance[3])
    # normalised neighbour gaps summed over the objectives: (0.6-0.2)/0.5 + (28-5)/25, (0.7-0.5)/0.5 + (30-10)/25
    assert distance[1:3] == pytest.approx([0.8 + 0.92, 0.4 + 0.8])


# ---- the front a real archive keeps ---------------------------------------------------------
def _program(archive, cid, iteration):
    return archive.add_program(cid, iteration=iteration, code=f"# {iteration}", code_hash=str(iteration),
                               parent_id=None, inspiration_ids=[], mutator="test", operator="op", edit={},
                               generation=0, island=0, state="pending")


def _train(archive, program_id, accuracy, flops, status=Status.OK):
    result = (EvaluationResult(status, score=accuracy, metrics={"accuracy": accuracy, "flops": flops},
                               descriptors={"flops": flops})
              if status is Status.OK else EvaluationResult.failure(status, "boom"))
    archive.record_training(program_id, "train", result, grid=GRID, islands=[0])


def _front(archive, cid):
    front = archive.front(cid, "train", ACC_FLOPS)
    return [(p.key, p.values) for p in front.members], front.ties


def test_archive_front_maintenance_ties_and_resume(db_url):
    archive = Archive(db_url)
    cid = archive.create_campaign(name="f", task_name="t", task_dir=None, config={}, seed=0, iterations=9).id
    ids = [_program(archive, cid, i) for i in range(8)]
    _train(archive, ids[0], 0.5, 20.0)
    _train(archive, ids[1], 0.3, 10.0)
    assert _front(archive, cid) == ([(ids[1], (0.3, 10.0)), (ids[0], (0.5, 20.0))], {})
    _train(archive, ids[2], 0.6, 15.0)  # dominates ids[0]: it leaves the front
    assert _front(archive, cid) == ([(ids[1], (0.3, 10.0)), (ids[2], (0.6, 15.0))], {})
    _train(archive, ids[3], 0.6, 15.0)  # a tie: the earlier program stands for the point
    assert _front(archive, cid) == ([(ids[1], (0.3, 10.0)), (ids[2], (0.6, 15.0))], {ids[2]: [ids[3]]})
    _train(archive, ids[4], 0.3, 12.0)  # dominated by ids[1] (same accuracy, more FLOPs)
    _train(archive, ids[5], 0.99, 1.0, status=Status.CRASHED)  # failures never enter
    archive.record_report(ids[6], "heldout", EvaluationResult(Status.OK, score=1.0,
                                                              metrics={"accuracy": 1.0, "flops": 1.0}))
    _train(archive, ids[7], 0.9, 90.0)
    before = _front(archive, cid)
    assert [k for k, _ in before[0]] == [ids[1], ids[2], ids[7]]
    assert archive.front(cid, "train", ACC_FLOPS).candidates == 6
    archive.close()
    reopened = Archive(db_url)  # a resumed campaign sees the front it left
    assert _front(reopened, cid) == before
    assert reopened.front(cid, "heldout", ACC_FLOPS).members == [Point(ids[6], (1.0, 1.0))]
    reopened.close()


def test_archive_front_property_matches_brute_force(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    cid = archive.create_campaign(name="p", task_name="t", task_dir=None, config={}, seed=0, iterations=99).id
    rng = random.Random(3)
    values = [(rng.randint(0, 6) / 6, float(rng.randint(1, 6))) for _ in range(40)]
    ids = [_program(archive, cid, i) for i in range(len(values))]
    for program_id, (accuracy, flops) in zip(ids, values):
        _train(archive, program_id, accuracy, flops)
    expected = {ids[i] for i, (a, f) in enumerate(values)
                if not any((a2 >= a and f2 <= f and (a2, f2) != (a, f)) for a2, f2 in values)
                and values.index((a, f)) == i}
    assert {k for k, _ in _front(archive, cid)[0]} == expected
    archive.close()


# ---- evolve front and export on a real campaign ------------------------------------------------
def _run(cli_env, *args, check=True):
    done = subprocess.run(evolve_cmd(*args), capture_output=True, text=True, env=cli_env, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def front_campaign(tmp_path_factory):
    import os

    from core_support import ROOT as root
    env = dict(os.environ, PYTHONPATH=str(root), COLUMNS="200")
    db = str(tmp_path_factory.mktemp("front") / "front.db")
    _run(env, "run", "--task-dir", FRONT_TASK, "--iterations", "12", "--workers", "1", "--seed", "4",
         "--db", db, "--name", "fit")
    return db, env


def test_evolve_front_json_is_the_archives_front_with_baselines(front_campaign):
    db, env = front_campaign
    report = json.loads(_run(env, "front", "fit", "--db", db, "--json").stdout)
    assert [o["metric"] for o in report["objectives"]] == ["mse", "flops"]
    assert report["split"] == "train" and report["reference"] == {"mse": 1.0, "flops": 16.0}
    rows = query(db, "select p.id, e.metrics from programs p join evaluations e on e.program_id = p.id "
                     "where e.split = 'train' and e.status = 'ok'")
    points = [Point(r["id"], (json.loads(r["metrics"])["mse"], json.loads(r["metrics"])["flops"])) for r in rows]
    objectives = (Objective("mse", False), Objective("flops", False))
    front, _ = nondominated(sorted(points, key=lambda p: p.key), objectives)
    assert [m["program_id"] for m in report["front"]] == [p.key for p in sorted(front, key=lambda p: p.values[1])]
    assert [m["point"] for m in report["front"]] == list(range(len(front)))
    assert report["hypervolume"] == pytest.approx(hypervolume(front, objectives, (1.0, 16.0)))
    assert report["candidates"] == len(points)
    baselines = {b["name"]: b for b in report["baselines"]}
    assert set(baselines) == {"constant", "line", "bad_cubic"}
    assert baselines["line"]["flops"] == 4.0 and baselines["line"]["mse"] == pytest.approx(0.0643, abs=1e-4)
    for b in baselines.values():  # "dominated" agrees with the front's values
        beaten = [m["program_id"] for m in report["front"] if m["mse"] <= b["mse"] and m["flops"] <= b["flops"]
                  and (m["mse"], m["flops"]) != (b["mse"], b["flops"])]
        assert b["dominated_by"] == beaten and b["dominated"] == bool(beaten)
    assert baselines["bad_cubic"]["dominated"]  # the seed (3 coefficients, fitted better) beats it
    # the baselines were evaluated once and cached: a second call evaluates nothing new
    assert len(query(db, "select * from baseline_evaluations")) == 3
    again = json.loads(_run(env, "front", "fit", "--db", db, "--json").stdout)
    assert again["baselines"] == report["baselines"]
    assert len(query(db, "select * from baseline_evaluations")) == 3
    table = _run(env, "front", "fit", "--db", db).stdout
    assert "hypervolume" in table and "bad_cubic" in table and "dominated by point" in table


def test_export_a_front_point_and_bad_choices(front_campaign, tmp_path):
    db, env = front_campaign
    report = json.loads(_run(env, "front", "fit", "--db", db, "--json", "--no-baselines").stdout)
    last = len(report["front"]) - 1
    out = tmp_path / "cheap.py"
    done = json.loads(_run(env, "export", "fit", "--front-point", "0", "--out", out, "--db", db, "--json").stdout)
    assert done["program_id"] == report["front"][0]["program_id"] and out.is_file()
    budget = report["front"][0]["flops"]
    done = json.loads(_run(env, "export", "fit", "--max-flops", budget, "--out", tmp_path / "b.py", "--db", db,
                           "--json").stdout)
    assert done["program_id"] == report["front"][0]["program_id"]  # the most accurate that fits
    done = json.loads(_run(env, "export", "fit", "--max-flops", 1e9, "--out", tmp_path / "c.py", "--db", db,
                           "--json").stdout)
    assert done["program_id"] == min(report["front"], key=lambda m: m["mse"])["program_id"]
    for args, message in [(["--front-point", last + 1], f"front has points 0..{last}"),
                          (["--max-flops", "1"], "no front point costs that little"),
                          (["--front-point", last, "--max-flops", "1"], f"front point {last} costs"),
                          (["--max-flops", "4", "--best"], "give it alone or with --front-point"),
                          (["--max-flops", "nan"], "give a positive number of FLOPs")]:
        failed = _run(env, "export", "fit", *args, "--out", tmp_path / "x.py", "--db", db, check=False)
        assert failed.returncode == 2 and message in failed.stderr and failed.stderr.count("\n") == 1, failed.stderr
    assert not (tmp_path / "x.py").exists()


def test_a_task_without_objectives_has_no_front(tmp_path, cli_env, toy_task_dir):
    db = str(tmp_path / "toy.db")
    _run(cli_env, "run", "--task-dir", toy_task_dir, "--iterations", "1", "--workers", "1", "--db", db, "--name", "t")
    failed = _run(cli_env, "front", "t", "--db", db, check=False)
    assert failed.returncode == 2 and "declares no objectives" in failed.stderr


# ---- parent selection over the front ---------------------------------------------------------
def test_choose_parent_draws_front_members_by_crowding():
    from collections import Counter

    from archive import SamplingWeights
    from archive.sampling import Elite, choose_parent

    grid = Grid.from_specs([{"name": "flops", "range": [0, 100], "bins": 4}])
    elites = [Elite(i, f"{i}", float(i)) for i in range(6)]
    front = [(elites[1], math.inf), (elites[2], 0.5), (elites[3], 1.5), (elites[4], math.inf)]
    weights = SamplingWeights(exploit=0, explore=0, frontier=0, pareto=1)
    rng = random.Random(0)
    drawn = Counter(choose_parent(elites, grid, rng, weights, front=front)[0].program_id for _ in range(4000))
    assert set(drawn) == {1, 2, 3, 4}  # only front members
    # weights 3 : 0.5 : 1.5 : 3 (the ends count twice the largest finite distance)
    assert drawn[1] / 4000 == pytest.approx(3 / 8, abs=0.03) and drawn[2] / 4000 == pytest.approx(0.5 / 8, abs=0.02)
    assert drawn[3] / 4000 == pytest.approx(1.5 / 8, abs=0.03)
    # no front yet: a pareto-only configuration explores
    assert choose_parent(elites, grid, rng, weights, front=[])[1] == "explore"
    # pareto weight 0 draws exactly what the three classic modes drew before it existed
    classic = SamplingWeights()
    a, b = random.Random(5), random.Random(5)
    assert [choose_parent(elites, grid, a, classic, front=front) for _ in range(50)] == \
           [choose_parent(elites, grid, b, classic) for _ in range(50)]


def test_campaign_with_pareto_parents(tmp_path, cli_env):
    db = str(tmp_path / "p.db")
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"task_dir": str(FRONT_TASK), "iterations": 8, "workers": 1, "name": "p", "lag": 0,
                                  "sampling": {"exploit": 0, "explore": 0, "frontier": 0, "pareto": 1}}))
    summary = json.loads(_run(cli_env, "run", "--config", config, "--db", db, "--json").stdout)
    archive = Archive(db)
    front = archive.front(1, "train", (Objective("mse", False), Objective("flops", False)))
    archive.close()
    assert summary["front"] == {"split": "train", "points": len(front.members), "hypervolume": pytest.approx(
        hypervolume(front.members, (Objective("mse", False), Objective("flops", False)), (1.0, 16.0)))}
    modes = [json.loads(r["edit"]).get("parent_mode") for r in query(db, "select edit from programs where iteration > 0")]
    assert len(modes) == 8 and set(modes) <= {"pareto", "explore"} and modes.count("pareto") >= 6, modes
    config.write_text(json.dumps({"task_dir": str(FRONT_TASK), "iterations": 1, "name": "q",
                                  "sampling": {"exploit": 0, "explore": 0, "frontier": 0, "pareto": 0}}))
    bad = _run(cli_env, "run", "--config", config, "--db", db, check=False)
    assert bad.returncode == 2 and "exploit, explore, frontier and pareto cannot all be 0" in bad.stderr, bad.stderr


def test_front_reads_metrics_documents_sqlite_cannot_parse(tmp_path):
    """A metrics document with a NaN (Python's json writes it, SQLite's JSON functions refuse it)."""
    archive = Archive(str(tmp_path / "n.db"))
    cid = archive.create_campaign(name="n", task_name="t", task_dir=None, config={}, seed=0, iterations=9).id
    ids = [_program(archive, cid, i) for i in range(4)]
    for program_id, metrics in zip(ids, [{"accuracy": 0.5, "flops": 10.0, "other": math.nan},
                                         {"accuracy": math.nan, "flops": 1.0},
                                         {"accuracy": 0.4, "flops": 5},
                                         {"accuracy": "high", "flops": 1.0}]):
        archive.record_training(program_id, "train", EvaluationResult(Status.OK, score=1.0, metrics=metrics,
                                                                      descriptors={"flops": 1.0}),
                                grid=GRID, islands=[0])
    assert archive.front_points(cid, "train", ACC_FLOPS) == [Point(ids[0], (0.5, 10.0)), Point(ids[2], (0.4, 5.0))]
    assert archive.program_points([ids[0], ids[3]], "train", ACC_FLOPS) == [Point(ids[0], (0.5, 10.0))]
    archive.close()
