"""The README's first command, `evolve run binpack_online --iterations 200`, over several seeds.

    python bench/bench_first_command.py [--seeds 0,1,2,3,4] [--iterations 200] [--workers 2] [--keep DIR]

Runs one campaign per seed, one after another (seed 0 is the command's default), each as a real
`evolve run` subprocess with a fresh archive, and prints per seed: wall time, what became of the
children (evaluated / cut / functional duplicate / failed edit / crashed), the best training score,
and the held-out report of the best program against best fit (OR3 and Weibull 5k excess over the
L1 bound). The summary counts the seeds whose best program beats best fit on both held-out sets,
which is the issue's target for the default seed, and on how many it does on either.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_offline_tasks import campaign as run_offline  # noqa: E402  (the same `evolve run` subprocess)

FAMILIES = ("or3_excess_pct", "weibull_5k_excess_pct")
BINS = {"or3_excess_pct": "or3_mean_bins", "weibull_5k_excess_pct": "weibull_5k_mean_bins"}  # exact, unrounded


def campaign(db: Path, seed: int, iterations: int, workers: int) -> dict:
    row = run_offline(ROOT, ["binpack_online"], db, seed, iterations, workers)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    failed = con.execute("select count(*) from evaluations e join programs p on p.id = e.program_id "
                         "where p.iteration > 0 and e.role = 'train' and e.status != 'ok'").fetchone()[0]
    best = con.execute("select p.id, e.score, p.operator from evaluations e join programs p on p.id = e.program_id "
                       "where e.role = 'train' and e.status = 'ok' order by e.score desc, p.id limit 1").fetchone()
    report = con.execute("select metrics from evaluations where program_id = ? and split = 'heldout'",
                         (best[0],)).fetchone()
    code = con.execute("select code from programs where id = ?", (best[0],)).fetchone()[0]
    con.close()
    return {**row, "crashed": failed, "best_id": best[0], "best_train": best[1], "best_operator": best[2],
            "heldout": {k: json.loads(report[0])[k] for k in (*FAMILIES, *BINS.values())} if report else None,
            "code": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the archives here (default: a temp dir, removed)")
    parser.add_argument("--show-code", action="store_true", help="print each seed's best program")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from evaluators.task import load_task
    measured = load_task("binpack_online").spec.baselines["best_fit"].measured["heldout"]
    best_fit = {k: float(measured[k]) for k in (*FAMILIES, *BINS.values())}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):
            db = folder / f"first-command-seed{seed}.db"
            db.unlink(missing_ok=True)
            row = campaign(db, seed, args.iterations, args.workers)
            rows.append(row)
            held = row["heldout"] or {}
            beats = [k for k in FAMILIES if BINS[k] in held and held[BINS[k]] < best_fit[BINS[k]]]
            row["beats"] = beats
            states = " ".join(f"{k} {v}" for k, v in sorted(row["states"].items()))
            print(f"seed {seed}: {row['wall_s']:.0f} s · {states} · crashed {row['crashed']} · best train "
                  f"{row['best_train']:.4f} ({row['best_operator']}) · held-out OR3 {held.get(FAMILIES[0], float('nan')):.3f} % "
                  f"Weibull 5k {held.get(FAMILIES[1], float('nan')):.3f} % · beats best fit on "
                  f"{' and '.join(k.split('_excess')[0] for k in beats) or 'neither'}", flush=True)
            if args.show_code:
                print(row["code"])
    both = sum(len(r["beats"]) == 2 for r in rows)
    either = sum(bool(r["beats"]) for r in rows)
    print(f"best fit: OR3 {best_fit[FAMILIES[0]]:.2f} %, Weibull 5k {best_fit[FAMILIES[1]]:.2f} %")
    print(f"beats best fit on both held-out sets: {both} of {len(rows)} seeds; on at least one: {either}")
    print(f"wall time: median {statistics.median(r['wall_s'] for r in rows):.0f} s "
          f"(min {min(r['wall_s'] for r in rows):.0f}, max {max(r['wall_s'] for r in rows):.0f})")


if __name__ == "__main__":
    main()
