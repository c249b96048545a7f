"""Hostile programs against both sandbox backends (process jail and Docker).

Each file in attacks/ is one attack; its first line says what must happen:
`# expect: STATUS [score=N] [| STATUS [score=N] ...]`. After every attack, on the same
sandbox: no process the attack started is left (they are all named 'hostile*'), the archive
database is untouched, nothing connected to the host, and the health probe still gets an
honest perfect score from a clean scratch. The Docker backend must leave no container behind.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import time
from pathlib import Path

import pytest

from docker_support import unavailable
from evaluators.task import load_task
from evolve.executors import local_executor
from evaluators.contract import Status

HERE = Path(__file__).resolve().parent
TASK_DIR = HERE / "task"
ATTACKS = sorted((HERE / "attacks").glob("*.py"))
PERFECT = 6.0
RUN_TWICE = {"scratch_spy", "sysv_shm"}  # the second run is the one that could see the first one's traces
EXPECT = re.compile(r"^# expect: (.+)$", re.M)


def expected(path: Path) -> list[tuple[Status, float | None]]:
    match = EXPECT.search(path.read_text())
    assert match, f"{path.name} has no '# expect:' line"
    outcomes = []
    for alternative in match.group(1).split("|"):
        words = alternative.split()
        score = next((float(w.split("=", 1)[1]) for w in words[1:] if w.startswith("score=")), None)
        outcomes.append((Status(words[0]), score))
    return outcomes


def hostile_processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    name = handle.read().strip()
            except OSError:
                continue
            if name.startswith("hostile"):
                found.append(f"{entry}:{name}")
    return found


def host_addresses() -> list[str]:
    addresses = {"127.0.0.1", "172.17.0.1"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(addresses)


class Harness:
    """One sandbox of one backend, driven synchronously from the tests."""

    def __init__(self, kind: str, **options):
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self.sandbox = local_executor(kind, workers=1, **options)
        self.task = load_task(task_dir=TASK_DIR)

    def evaluate(self, code: str):
        return self.loop.run_until_complete(self.sandbox.evaluate(self.task, code))

    def close(self) -> None:
        self.loop.run_until_complete(self.sandbox.close())
        self.loop.close()


@pytest.fixture(scope="module", params=["process", "docker"])
def harness(request):
    if request.param == "process":
        from sandbox.jail import bwrap_available
        if not bwrap_available():
            unavailable("bubblewrap is missing or cannot create namespaces (apt-get install bubblewrap)")
        harness = Harness("process", jail="bwrap")
        yield harness
        harness.close()
        return
    image = request.getfixturevalue("docker_image")
    client = request.getfixturevalue("docker_client")
    harness = Harness("docker", image=image, memory_mb=1024, recycle_after=100)
    yield harness
    pool_id = harness.sandbox.pool._pool_id
    harness.close()
    from sandbox.docker_backend import LABEL_POOL
    left = client.containers.list(all=True, filters={"label": f"{LABEL_POOL}={pool_id}"})
    assert not left, f"containers left behind: {[c.short_id for c in left]}"


@pytest.fixture(scope="module")
def host_bait(tmp_path_factory):
    """A fake archive database and a listening TCP port on the host, for attacks to go after."""
    directory = tmp_path_factory.mktemp("bait")
    db = directory / "archive.db"
    db.write_bytes(b"SQLite format 3\0" + os.urandom(4096))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 0))
    listener.listen(16)
    listener.setblocking(False)
    yield {"db": db, "digest": hashlib.sha256(db.read_bytes()).hexdigest(), "listener": listener,
           "port": listener.getsockname()[1]}
    listener.close()


def substitute(code: str, bait: dict) -> str:
    return (code.replace("__HOSTS__", repr(host_addresses()))
                .replace("__PORT__", str(bait["port"]))
                .replace("__WORKLOAD__", repr(str(TASK_DIR / "workload.json")))
                .replace("__DB__", repr(str(bait["db"])))
                .replace("__TASK_DIR__", repr(str(TASK_DIR))))


def describe(result) -> str:
    return (f"status={result.status.value} score={result.score} message={result.artifacts.get('message')!r} "
            f"stderr={str(result.artifacts.get('stderr_tail', ''))[-200:]!r}")


@pytest.mark.docker
@pytest.mark.parametrize("attack", ATTACKS, ids=[p.stem for p in ATTACKS])
def test_attack(harness, host_bait, attack):
    code = substitute(attack.read_text(), host_bait)
    outcomes = expected(attack)
    for _run in range(2 if attack.stem in RUN_TWICE else 1):
        result = harness.evaluate(code)
        assert any(result.status is status and (score is None or result.score == score)
                   for status, score in outcomes), f"{harness.kind}/{attack.stem}: {describe(result)}"
        if result.status is not Status.OK:
            assert result.artifacts.get("message"), "a non-ok status must say what happened"
        assert result.wall_time < 30, f"{attack.stem} held the sandbox for {result.wall_time:.1f} s"

    deadline = time.monotonic() + 10
    while hostile_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not hostile_processes(), f"{harness.kind}/{attack.stem} left processes: {hostile_processes()}"
    assert hashlib.sha256(host_bait["db"].read_bytes()).hexdigest() == host_bait["digest"], "archive db modified"
    with pytest.raises(BlockingIOError):
        host_bait["listener"].accept()

    probe = harness.evaluate((HERE / "probe.py").read_text())
    assert probe.status is Status.OK and probe.score == PERFECT, \
        f"{harness.kind}: after {attack.stem} the sandbox is unhealthy or dirty: {describe(probe)}"


def test_every_issue_attack_is_present():
    """The catalogue the issue asks for, by file name (a rename must not silently drop one)."""
    required = {"infinite_loop", "ignore_sigterm", "sleep_past_timeout", "memory_bomb", "fork_bomb", "disk_fill",
                "stdout_flood", "network", "read_workload", "scratch_spy", "write_archive_db",
                "monkeypatch_scorer", "fake_result", "os_exit", "daemon", "segfault", "recursion_bomb",
                "return_nan", "return_inf", "return_wrong_shape", "hostile_object"}
    assert required <= {p.stem for p in ATTACKS}
