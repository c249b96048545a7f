"""Pareto fronts: what the front query costs, and whether parent selection over the front pays.

  query     build a SQLite archive of N programs with ok training evaluations (the metrics of a
            model-backed task: a dozen numbers each) and time `Archive.front` on it.
  sampling  offline campaigns on a task with objectives, with and without parents drawn from the
            elites' Pareto front (sampling.pareto), over seeds; prints each campaign's final
            hypervolume on the front split and the baselines it dominates, and the mean per arm.

    PYTHONPATH=$PWD python bench/bench_front.py query --programs 10000
    PYTHONPATH=$PWD python bench/bench_front.py sampling --task spec_decoding --seeds 0 1 2 --iterations 30

Campaigns of one seed run side by side (one per arm, --workers each). Say the load (`uptime`)
with every figure: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_query(programs: int, repeats: int) -> dict:
    from archive import Archive
    from archive.pareto import Objective
    from archive.schema import Evaluation, Program

    rng = random.Random(0)
    objectives = (Objective("accuracy", True), Objective("flops_per_problem", False, log10=True))
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive(str(Path(tmp) / "front.db"))
        cid = archive.create_campaign(name="q", task_name="t", task_dir=None, config={}, seed=0,
                                      iterations=programs).id
        with archive.session() as s:  # bulk insert: the build is not what is measured
            rows = [Program(campaign_id=cid, iteration=i, code=f"# {i}", code_hash=f"{i}", mutator="bench",
                            operator="op", edit={}, state="evaluated") for i in range(programs)]
            s.add_all(rows)
            s.flush()
            for row in rows:
                flops = 10 ** rng.uniform(7, 10)
                metrics = {"accuracy": rng.randint(0, 32) / 32, "flops_per_problem": flops,
                           "log10_flops_per_problem": math.log10(flops)}
                metrics.update({f"extra_{k}": rng.random() for k in range(9)})
                s.add(Evaluation(program_id=row.id, split="train", role="train", status="ok",
                                 score=metrics["accuracy"], metrics=metrics, descriptors={}, artifacts={}))
            s.commit()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            front = archive.front(cid, "train", objectives)
            times.append(time.perf_counter() - started)
        archive.close()
    return {"bench": "front_query", "programs": programs, "front_size": len(front.members),
            "median_s": statistics.median(times), "min_s": min(times), "repeats": repeats,
            "load": os.getloadavg()}


def _campaign(task: str, seed: int, iterations: int, workers: int, pareto: float, db: str, log: Path):
    config = Path(db).with_suffix(".yaml")
    config.write_text(json.dumps({"task": task, "seed": seed, "iterations": iterations, "workers": workers,
                                  "name": "c", "heldout_report": False, "sampling": {"pareto": pareto}}))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "evolve", "run", "--config", str(config), "--db", db, "--json"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)


def _front_figures(db: str, baselines: list | None) -> tuple[dict, list]:
    """The campaign's final front; the baselines are evaluated in the first campaign only (their points
    do not depend on the campaign) and the later ones are compared with those points."""
    from archive.pareto import Point, costs, dominates
    from evolve.campaign import Campaign, open_archive
    from evolve.front import campaign_front

    archive = open_archive(db)
    try:
        report = campaign_front(Campaign.open(archive, "c"), with_baselines=baselines is None)
    finally:
        archive.close()
    if baselines is None:
        baselines = [Point(b.name, b.values) for b in report.baselines if b.values is not None]
    objectives = report.objectives
    dominated = sum(any(dominates(costs(m, objectives), costs(b, objectives)) for m in report.front.members)
                    for b in baselines)
    return {"hypervolume": report.hypervolume, "front_size": len(report.front.members),
            "programs": report.front.candidates, "baselines_dominated": dominated,
            "baselines": len(baselines)}, baselines


def bench_sampling(task: str, seeds: list[int], iterations: int, workers: int, pareto: float, keep: str | None):
    out = Path(keep or tempfile.mkdtemp(prefix="bench-front-"))
    out.mkdir(parents=True, exist_ok=True)
    results, baselines = [], None
    for seed in seeds:
        arms = {"without": 0.0, "with": pareto}
        started = time.monotonic()
        load_before = os.getloadavg()
        procs = {arm: _campaign(task, seed, iterations, workers, weight, str(out / f"{task}-{seed}-{arm}.db"),
                                out / f"{task}-{seed}-{arm}.log") for arm, weight in arms.items()}
        for arm, proc in procs.items():
            if proc.wait() != 0:
                raise SystemExit(f"campaign {task} seed {seed} {arm} failed; see {out}/{task}-{seed}-{arm}.log")
        for arm in arms:
            figures, baselines = _front_figures(str(out / f"{task}-{seed}-{arm}.db"), baselines)
            row = {"bench": "front_sampling", "task": task, "seed": seed, "arm": arm, "pareto": arms[arm],
                   "iterations": iterations, **figures, "wall_s": round(time.monotonic() - started, 1), "load_before": load_before,
                   "load_after": os.getloadavg()}
            print(json.dumps(row), flush=True)
            results.append(row)
    summary = {"bench": "front_sampling_summary", "task": task, "seeds": seeds, "iterations": iterations,
               "pareto": pareto, "archives": str(out)}
    for arm in ("without", "with"):
        hv = [r["hypervolume"] for r in results if r["arm"] == arm]
        summary[f"hypervolume_mean_{arm}"] = statistics.mean(hv)
        summary[f"hypervolume_{arm}"] = hv
    summary["seeds_won_with"] = sum(
        w["hypervolume"] > wo["hypervolume"] for w, wo in zip([r for r in results if r["arm"] == "with"],
                                                              [r for r in results if r["arm"] == "without"]))
    print(json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    query = sub.add_parser("query")
    query.add_argument("--programs", type=int, default=10_000)
    query.add_argument("--repeats", type=int, default=5)
    sampling = sub.add_parser("sampling")
    sampling.add_argument("--task", default="spec_decoding")
    sampling.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sampling.add_argument("--iterations", type=int, default=30)
    sampling.add_argument("--workers", type=int, default=1, help="per campaign (two run at once)")
    sampling.add_argument("--pareto", type=float, default=0.5, help="sampling.pareto of the 'with' arm "
                                                                    "(exploit/explore/frontier keep 0.4/0.4/0.2)")
    sampling.add_argument("--keep", metavar="DIR", help="keep the archives here (default: a temp directory)")
    args = parser.parse_args()
    if args.bench == "query":
        print(json.dumps(bench_query(args.programs, args.repeats)))
    else:
        bench_sampling(args.task, args.seeds, args.iterations, args.workers, args.pareto, args.keep)


if __name__ == "__main__":
    main()
