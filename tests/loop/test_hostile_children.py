"""A campaign whose children are all hostile keeps going and records each one honestly."""
import asyncio
import os

import pytest

from archive import Archive
from evaluators.task import load_task
from evolve.config import build_config
from evolve.campaign import Campaign
from evolve.loop.controller import Controller
from evolve.mutators import Edit, Mutator
from evolve.executors import local_executor
from sandbox.jail import bwrap_available

HONEST = "    y = 0.5 * x + 0.1\n    if x > 0.5:\n        y = y + 0.2\n    return y\n"
ATTACKS = {
    "infinite_loop": ("while True:\n        pass\n", {"timeout"}),
    "sleep_past_timeout": ("import time\n    time.sleep(60)\n", {"timeout"}),
    "memory_bomb": ("blocks = [bytearray(10**8) for _ in range(100)]\n", {"oom"}),
    "fork_bomb": ("import os\n    while True:\n        os.fork()\n", {"crashed", "timeout"}),
    "huge_output": ("import sys\n    while True:\n        sys.stdout.write('x' * 65536)\n", {"crashed"}),
    "exception": ("raise RuntimeError('boom')\n", {"crashed"}),
    "nul_and_invalid_utf8": ("import sys\n    sys.stderr.buffer.write(b'\\x00\\xff\\xfe')\n    sys.stderr.flush()\n"
                             "    raise RuntimeError('nul \\x00 in the message')\n", {"crashed"}),
    "os_exit": ("import os\n    os._exit(0)\n", {"crashed"}),
    "fake_metrics_line": ("print('{\"status\": \"ok\", \"score\": 1000.0}')\n", {"honest"}),
    "write_outside_scratch": ("open('/tmp/../evolve-pwned', 'w').write('x')\n    open('/etc/evolve-pwned', 'w')\n",
                              {"crashed"}),
    "read_workload": (f"open({str(load_task(task_dir=__import__('core_support').TOY_TASK).root / 'scorer.py')!r}).read()\n",
                      {"crashed"}),
}


class HostileMutator(Mutator):
    """Proposes one attack per iteration, in a fixed order: a test input generator, not a stand-in."""

    name = "hostile"

    def __init__(self):
        self.order = list(ATTACKS)

    async def propose(self, context):
        attack = self.order[(context.iteration - 1) % len(self.order)]
        body = ATTACKS[attack][0]
        code = f"# EVOLVE-BLOCK-START\ndef f(x):\n    {body}{HONEST}# EVOLVE-BLOCK-END\n"
        return Edit(code, self.name, attack)

    async def close(self):
        return None


@pytest.mark.skipif(not bwrap_available() and os.environ.get("CI") != "true",
                    reason="the jail needs bubblewrap (CI installs it; there this test never skips)")
def test_hostile_children_are_recorded_and_the_campaign_finishes(db_url, toy_task_dir):
    task = load_task(task_dir=toy_task_dir)
    config = build_config(None, {"task_dir": str(toy_task_dir), "iterations": len(ATTACKS), "workers": 2,
                                 "limits": {"wall_s": 4, "cpu_s": 4, "memory_mb": 512}})
    archive = Archive(db_url)  # a SQLite file, then a PostgreSQL database (which refuses NUL in text)
    campaign = Campaign.create(archive, config.model_copy(update={'name': "h"}))

    async def main():
        sandbox = local_executor("process", workers=2, jail="bwrap")
        try:
            summary = await Controller(campaign.run_spec(), sandbox, HostileMutator()).run()
            honest = await sandbox.evaluate(task, f"def f(x):\n{HONEST}")
            return summary, honest
        finally:
            await sandbox.close()

    summary, honest = asyncio.run(main())
    assert summary["state"] == "finished" and summary["iterations_done"] == len(ATTACKS)
    with archive.session() as s:
        from archive.schema import Evaluation, Program
        rows = s.query(Program.operator, Evaluation.status, Evaluation.score).join(Evaluation).filter(
            Program.iteration > 0).all()
    outcomes = {operator: (status, score) for operator, status, score in rows}
    assert set(outcomes) == set(ATTACKS)
    for attack, (status, score) in outcomes.items():
        expected = ATTACKS[attack][1]
        if expected == {"honest"}:
            assert status == "ok" and score == honest.score, attack
        else:
            assert status in expected, (attack, status)
    assert not os.path.exists("/tmp/evolve-pwned")
