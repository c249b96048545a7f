"""The loop's own cost when the LLM is instant: controller CPU per iteration and time to the first proposal.

    python bench/bench_loop.py [--iterations 200] [--repeats 3]

(a) controller CPU: a campaign on the toy task (tests/fixtures/toy_task, evaluations take
    milliseconds) with an instant local stand-in LLM (tests/llm_server.py, real openai SDK), run
    in this process; the process's CPU time (event loop, database thread, SDK parsing, hashing;
    evaluation workers, candidates and the stand-in server are other processes) divided by
    iterations. Target <= 10 ms. (Until the stand-in ran in a process of its own, its threads'
    CPU, about 0.5 ms per iteration, was counted here too.)
(b) time to first proposal: `evolve run` started as a subprocess; seconds from the spawn to the
    first request reaching the stand-in server (median over repeats). Target <= 1 s. Also the CPU
    time that process has used by then (from /proc when the request arrives: it is waiting for
    the answer), which, unlike the seconds, does not grow with what else runs on the machine.
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

ROOT = Path(__file__).resolve().parent.parent
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
            run = subprocess.Popen(command + ["--config", str(config)], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"controller": controller_cpu(args.iterations)}
    with TimedFakeLLM(latency=0.0) as fake:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   OPENAI_API_KEY="bench", OPENAI_BASE_URL=fake.openai_url)
        result["startup"] = first_proposal(args.repeats, fake, env)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        c, s = result["controller"], result["startup"]
        print(f"controller CPU: {c['cpu_ms_per_iteration']} ms per iteration ({c['cpu_s']} s over {c['iterations']} "
              f"iterations, {c['llm_requests']} LLM requests, wall {c['wall_s']} s); target <= 10 ms")
        print(f"time to first proposal: {s['first_proposal_s_median']} s median of {s['samples_s']}; target <= 1 s; "
              f"CPU used by then: {s['cpu_s_median']} s median of {s['cpu_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
