"""The loop's own cost when the LLM is instant: controller CPU per iteration and time to the first proposal.

    python bench/bench_loop.py [--iterations 200] [--repeats 3] [--against OTHER_CHECKOUT [--rounds 3]]

(a) controller CPU: a campaign on the toy task (tests/fixtures/toy_task, evaluations take
    milliseconds) with an instant local stand-in LLM (tests/llm_server.py, real openai SDK), run
    in this process; the process's CPU time (event loop, database thread, SDK parsing, hashing;
    evaluation workers, candidates and the stand-in server are other processes) divided by
    iterations. Target <= 10 ms. (Until the stand-in ran in a process of its own, its threads'
    CPU, about 0.5 ms per iteration, was counted here too.)
(b) time to first proposal: `evolve run` started as a subprocess; seconds from the spawn to the
    first request reaching the stand-in server (median over repeats). Target <= 1 s. Also the CPU
    time that process has used by then (from /proc when the request arrives: it is waiting for
    the answer), which grows less than the seconds with what else runs on the machine.

Both figures depend on the machine's load, so a change is judged side by side: with --against DIR
(another checkout, e.g. `git worktree add /tmp/main main`) the controller runs of both checkouts
go at the same time, `--rounds` pairs (the same load for both), and the first-request runs
alternate, `--repeats` each; medians and ratios this/other are printed.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
# the checkout whose code is measured: this one, or the one named by --code (an --against run's other side)
ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv[:-1] else HERE
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeLLM  # noqa: E402

TOY = ROOT / "tests" / "fixtures" / "toy_task"
LLM = {"llm": [{"provider": "openai", "model": "bench", "timeout": 30}],
       "mix": {"diff": 1, "full_rewrite": 0, "crossover": 0, "offline": 0}, "heldout_report": False}


SERVE = """
import sys
sys.path.insert(0, sys.argv[1])
from llm_server import FakeLLM
with FakeLLM(latency=0.0) as fake:
    print(fake.openai_url, flush=True)
    sys.stdin.read()
    print(len(fake.served()), flush=True)
"""


@contextlib.contextmanager
def stand_in_elsewhere():
    """The stand-in LLM in a process of its own (its CPU is not the controller's); yields its URL and, once
    the block is left, a list holding the number of requests it served."""
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(ROOT / "tests")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    served: list[int] = []
    try:
        url = server.stdout.readline().strip()
        yield url, served
    finally:
        server.stdin.close()
        served.append(int(server.stdout.readline() or 0))
        server.wait()


def controller_cpu(iterations: int) -> dict:
    """Steady state: a 5-iteration warm-up campaign first pays the one-time imports (SDK, pydantic models)."""
    from archive import Archive
    from evolve.campaign import Campaign
    from evolve.config import build_config

    with tempfile.TemporaryDirectory() as tmp, stand_in_elsewhere() as (url, served):
        os.environ.update(OPENAI_API_KEY="bench", OPENAI_BASE_URL=url)
        for name, count in (("warmup", 5), ("measured", iterations)):
            archive = Archive(str(Path(tmp) / f"{name}.db"))
            config = build_config(None, {"task_dir": str(TOY), "iterations": count, "workers": 2, **LLM})
            campaign = Campaign.create(archive, config)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            outcome = asyncio.run(campaign.run())
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            archive.close()
    return {"iterations": outcome.summary["iterations_done"], "llm_requests": served[0],
            "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "cpu_ms_per_iteration": round(1000 * cpu / max(1, outcome.summary["iterations_done"]), 2)}


class TimedFakeLLM(FakeLLM):
    """Notes, as the first request of process `pid` arrives, the CPU time that process has used."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.pid: int | None = None
        self.cpu_at_first: dict[int, float | None] = {}

    def _handle(self, handler) -> None:
        if self.pid is not None and self.pid not in self.cpu_at_first:
            self.cpu_at_first[self.pid] = process_cpu_s(self.pid)
        super()._handle(handler)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process, all its threads (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_proposal(repeats: int, fake: TimedFakeLLM, env: dict) -> dict:
    samples, cpu = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            before = len(fake.served())
            command = [sys.executable, "-m", "evolve", "run", "--task-dir", str(TOY), "--iterations", "2",
                       "--workers", "1", "--llm", "openai:bench", "--db", str(Path(tmp) / "first.db"), "--json"]
            config = Path(tmp) / "c.yaml"
            config.write_text(json.dumps(LLM))
            started = time.time()
            # cwd: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH
            run = subprocess.Popen(command + ["--config", str(config)], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=tmp)
            fake.pid = run.pid
            _, stderr = run.communicate()
            if run.returncode != 0:
                raise SystemExit(stderr)
            samples.append(fake.served()[before]["at"] - started)
            cpu.append(fake.cpu_at_first.get(run.pid))
    measured = [c for c in cpu if c is not None]
    return {"first_proposal_s_median": round(statistics.median(samples), 3),
            "samples_s": [round(s, 3) for s in samples],
            "cpu_s_median": round(statistics.median(measured), 3) if measured else None, "cpu_s": cpu}


def side_by_side(args) -> dict:
    """This checkout and `args.against`: controller runs in pairs at the same time, first requests alternating."""
    sides = {"this": HERE, "other": Path(args.against).resolve()}

    def run(root: Path, only: str, repeats: int = 1) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, __file__, "--code", str(root), "--only", only, "--iterations",
                                 str(args.iterations), "--repeats", str(repeats), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(process: subprocess.Popen) -> dict:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(err)
        return json.loads(out)

    cpu = {side: [] for side in sides}
    first = {side: [] for side in sides}
    first_cpu = {side: [] for side in sides}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        pair = {side: run(root, "controller") for side, root in sides.items()}
        for side, process in pair.items():
            cpu[side].append(result(process)["controller"]["cpu_ms_per_iteration"])
    for index in range(args.repeats):
        loads.append(os.getloadavg()[0])
        for side in (("this", "other") if index % 2 == 0 else ("other", "this")):
            startup = result(run(sides[side], "startup"))["startup"]
            first[side] += startup["samples_s"]
            first_cpu[side] += [c for c in startup["cpu_s"] if c is not None]
    median = {name: {side: round(statistics.median(values[side]), 3) if values[side] else None for side in sides}
              for name, values in (("cpu_ms_per_iteration", cpu), ("first_request_s", first),
                                   ("first_request_cpu_s", first_cpu))}
    return {"other": str(sides["other"]), "load": [round(min(loads), 2), round(max(loads), 2)], "median": median,
            "ratio_this_to_other": {name: round(m["this"] / m["other"], 3) if m["this"] and m["other"] else None
                                    for name, m in median.items()},
            "controller_ratio_per_round": [round(a / b, 3) for a, b in zip(cpu["this"], cpu["other"])],
            "cpu_ms_per_iteration": cpu, "first_request_s": first, "first_request_cpu_s": first_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--against", metavar="DIR", help="another checkout to measure side by side with this one")
    parser.add_argument("--rounds", type=int, default=3, help="controller pairs run at the same time (--against)")
    parser.add_argument("--code", metavar="DIR", help="measure the code of checkout DIR (an --against run's side)")
    parser.add_argument("--only", choices=["controller", "startup"], help="measure one of the two figures")
    args = parser.parse_args()
    if args.against:
        comparison = side_by_side(args)
        if args.json:
            print(json.dumps(comparison, indent=2))
        else:
            m, r = comparison["median"], comparison["ratio_this_to_other"]
            print(f"side by side with {comparison['other']}, load {comparison['load'][0]}-{comparison['load'][1]}:")
            print(f"controller CPU ms/iteration, {args.rounds} pairs at the same time: this "
                  f"{m['cpu_ms_per_iteration']['this']} other {m['cpu_ms_per_iteration']['other']} "
                  f"(ratio {r['cpu_ms_per_iteration']}; per pair {comparison['controller_ratio_per_round']})")
            print(f"first LLM request, {args.repeats} each alternating: this {m['first_request_s']['this']} s "
                  f"(CPU {m['first_request_cpu_s']['this']} s), other {m['first_request_s']['other']} s (CPU "
                  f"{m['first_request_cpu_s']['other']} s); ratios {r['first_request_s']} / {r['first_request_cpu_s']}")
        return 0
    result = {}
    if args.only != "startup":
        result["controller"] = controller_cpu(args.iterations)
    if args.only != "controller":
        with TimedFakeLLM(latency=0.0) as fake:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                       OPENAI_API_KEY="bench", OPENAI_BASE_URL=fake.openai_url)
            result["startup"] = first_proposal(args.repeats, fake, env)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        if "controller" in result:
            c = result["controller"]
            print(f"controller CPU: {c['cpu_ms_per_iteration']} ms per iteration ({c['cpu_s']} s over "
                  f"{c['iterations']} iterations, {c['llm_requests']} LLM requests, wall {c['wall_s']} s); "
                  "target <= 10 ms")
        if "startup" in result:
            s = result["startup"]
            print(f"time to first proposal: {s['first_proposal_s_median']} s median of {s['samples_s']}; "
                  f"target <= 1 s; CPU used by then: {s['cpu_s_median']} s median of {s['cpu_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
