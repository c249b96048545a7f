"""The Docker backend on a real engine: lock-down, warm pool, GPU requests, CLI, cleanup."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docker_support import docker_client, docker_image  # noqa: F401  (fixtures)
from evaluators.task import load_task
from sandbox.docker_backend import (LABEL, LABEL_OWNER, LABEL_POOL, ContainerLimits,
                                    GpuUnavailable, container_config, gpu_device_requests)
from evaluators.contract import Limits, Status
from evolve.executors import local_executor

ROOT = Path(__file__).resolve().parents[2]
PROBE_TASK = ROOT / "tests" / "sandbox" / "hostile" / "task"


def run(coro):
    return asyncio.run(coro)


async def evaluate_all(sandbox, task, programs, limits=None):
    try:
        return [await sandbox.evaluate(task, code, limits) for code in programs]
    finally:
        await sandbox.close()


def ours(client, pool_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_POOL}={pool_id}"})


# --- no engine needed ---------------------------------------------------------------------------
def test_gpu_device_request_construction():
    from docker.types import DeviceRequest
    assert gpu_device_requests("t", False, False, {"nvidia", "runc"}) == []
    assert gpu_device_requests("t", True, False, {"nvidia", "runc"}, gpus="none") == []
    [every] = gpu_device_requests("t", True, False, {"nvidia", "runc"})
    assert isinstance(every, DeviceRequest)
    assert every["Driver"] == "nvidia" and every["Count"] == -1 and every["Capabilities"] == [["gpu"]]
    [some] = gpu_device_requests("t", True, True, {"nvidia"}, gpus="0, GPU-3f2a")
    assert some["DeviceIDs"] == ["0", "GPU-3f2a"] and some["Count"] == 0 and some["Capabilities"] == [["gpu"]]
    assert gpu_device_requests("t", True, True, {"runc"}) == []  # optional: CPU fallback
    with pytest.raises(GpuUnavailable, match=r"task 'llm' requires a GPU .* no NVIDIA runtime \(runtimes: runc\)"):
        gpu_device_requests("llm", True, False, {"runc"})
    with pytest.raises(ValueError):
        gpu_device_requests("t", True, False, {"nvidia"}, gpus=" , ")


def test_container_config_is_locked_down():
    config = container_config("img:1", 345678, ContainerLimits(memory_mb=1024, cpus=0.5, pids=64, scratch_mb=32),
                              mounts={"/home/u/task": "/opt/evolve/tasks/abc"}, owner="host:1", pool="p1",
                              worker_module="some.worker")
    assert config["command"][2:4] == ["-m", "some.worker"]  # the caller's worker module, nothing of its own
    assert config["network_mode"] == "none" and config["read_only"] is True
    assert config["cap_drop"] == ["ALL"] and config["cap_add"] == ["SETUID", "SETGID"]
    assert config["security_opt"] == ["no-new-privileges"]
    assert config["mem_limit"] == config["memswap_limit"] == "1024m"
    assert config["nano_cpus"] == 500_000_000 and config["pids_limit"] == 64
    assert config["auto_remove"] is True and config["stdin_open"] is True and config["detach"] is False
    assert config["labels"] == {LABEL: "1", LABEL_OWNER: "host:1", LABEL_POOL: "p1"}
    assert "/tmp" not in config["tmpfs"]  # a /tmp tmpfs would inherit the image's 1777 mode
    assert "size=32m" in config["tmpfs"]["/scratch"] and "uid=345678" in config["tmpfs"]["/scratch"]
    assert config["volumes"] == {"/home/u/task": {"bind": "/opt/evolve/tasks/abc", "mode": "ro"}}
    options = json.loads(config["command"][config["command"].index("--zygote-options") + 1])
    assert options["command_prefix"][:3] == ["/usr/bin/setpriv", "--reuid=345678", "--regid=345678"]
    assert options["extra_config"]["kill_all"] is True


# --- real engine ----------------------------------------------------------------------------------
INSPECT = r'''
import json, os, socket
def solve(x):
    report = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs"):
                report[key] = value.strip()
    with open("/proc/net/dev") as handle:
        report["interfaces"] = sorted(line.split(":")[0].strip() for line in handle.readlines()[2:])
    writable = []
    for root, dirs, files in os.walk("/"):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        if os.access(root, os.W_OK):
            writable.append(root)
    report["writable"] = writable
    readable = {}
    for path in ("/opt/evolve", "/opt/evolve/venv", "/opt/jail/site/numpy", "/run/evolve-scorer"):
        try:
            os.listdir(path)
            readable[path] = True
        except OSError:
            readable[path] = False
    report["readable"] = readable
    report["cwd"] = os.getcwd()
    raise RuntimeError(json.dumps(report))
'''


def _report(result) -> dict:
    assert result.status is Status.CRASHED, result
    return json.loads(result.artifacts["message"].split(": ", 1)[1])


def test_candidate_sees_a_locked_down_container(docker_image, docker_client):
    task = load_task(task_dir=PROBE_TASK)
    sandbox = local_executor("docker", workers=1, image=docker_image)
    [result] = run(evaluate_all(sandbox, task, [INSPECT]))
    report = _report(result)
    assert report["uid"] >= 200_000 and report["gid"] == report["uid"] and report["groups"] == []
    assert int(report["CapEff"], 16) == 0 and int(report["CapPrm"], 16) == 0
    assert report["NoNewPrivs"] == "1"
    assert report["interfaces"] == ["lo"]
    assert sorted(report["writable"]) == ["/run/evolve", "/scratch"]
    assert report["readable"] == {"/opt/evolve": False, "/opt/evolve/venv": False, "/opt/jail/site/numpy": True,
                                  "/run/evolve-scorer": False}
    assert report["cwd"] == "/scratch"
    assert not ours(docker_client, sandbox.pool._pool_id)


def test_container_host_config_on_the_engine(docker_image, docker_client):
    task = load_task(task_dir=PROBE_TASK)
    sandbox = local_executor("docker", workers=1, image=docker_image, memory_mb=768, cpus=0.5, pids=100)

    async def go():
        try:
            await sandbox.evaluate(task, task.seed_code)
            [container] = ours(docker_client, sandbox.pool._pool_id)
            return container.attrs["HostConfig"], container.attrs["Config"]
        finally:
            await sandbox.close()

    host, config = run(go())
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True and host["AutoRemove"] is True
    assert host["Memory"] == host["MemorySwap"] == 768 * 2**20 and host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 100 and host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert config["OpenStdin"] is True and config["StdinOnce"] is True
    assert not ours(docker_client, sandbox.pool._pool_id)


def test_warm_pool_reuses_then_recycles(docker_image, docker_client):
    task = load_task(task_dir=PROBE_TASK)
    sandbox = local_executor("docker", workers=1, image=docker_image, recycle_after=3)
    seen = []

    async def go():
        try:
            for code in [task.seed_code] * 4 + ["def solve(x):\n    while True: pass\n", task.seed_code]:
                result = await sandbox.evaluate(task, code, Limits(wall_s=1.5, cpu_s=1, memory_mb=256))
                await asyncio.sleep(0)  # let a background replacement register
                for _ in range(200):
                    if not sandbox.pool._recycling:
                        break
                    await asyncio.sleep(0.05)
                seen.append((result.status, sandbox.pool._all[0].container_id))
        finally:
            await sandbox.close()

    run(go())
    statuses = [status for status, _ in seen]
    ids = [cid for _, cid in seen]
    assert statuses == [Status.OK] * 4 + [Status.TIMEOUT, Status.OK]
    # the container that served evaluations 1-3 is replaced after its third; a timeout is an anomaly
    assert ids[0] == ids[1] != ids[2] == ids[3] != ids[4] == ids[5]
    assert not ours(docker_client, sandbox.pool._pool_id)


def test_builtin_task_scores_the_same_as_the_process_backend(docker_image, docker_client):
    from evolve.executors import local_executor
    task = load_task("binpack_online")
    docker_sandbox = local_executor("docker", workers=1, image=docker_image)
    [in_docker] = run(evaluate_all(docker_sandbox, task, [task.seed_code]))
    [in_process] = run(evaluate_all(local_executor("process", workers=1), task, [task.seed_code]))
    assert in_docker.status is Status.OK and in_process.status is Status.OK
    assert in_docker.score == in_process.score and in_docker.metrics == in_process.metrics


def _task_copy(tmp_path: Path, **changes) -> Path:
    import yaml
    directory = tmp_path / "gpu_task"
    shutil.copytree(PROBE_TASK, directory)
    spec = yaml.safe_load((directory / "task.yaml").read_text())
    spec.update(changes)
    (directory / "task.yaml").write_text(yaml.safe_dump(spec))
    return directory


def test_gpu_task_without_nvidia_runtime(docker_image, docker_client, tmp_path):
    from sandbox.docker_backend import engine_runtimes
    if "nvidia" in engine_runtimes(docker_client):
        pytest.skip("this engine has an NVIDIA runtime; the fallback path cannot be exercised here")
    optional = load_task(task_dir=_task_copy(tmp_path / "a", wants_gpu=True, gpu_optional=True))
    [result] = run(evaluate_all(local_executor("docker", workers=1, image=docker_image), optional, [optional.seed_code]))
    assert result.status is Status.OK and result.score == 6.0
    assert "ran on CPU" in result.artifacts["gpu"]
    required = load_task(task_dir=_task_copy(tmp_path / "b", wants_gpu=True, gpu_optional=False))
    sandbox = local_executor("docker", workers=1, image=docker_image)
    with pytest.raises(GpuUnavailable, match="requires a GPU"):
        run(evaluate_all(sandbox, required, [required.seed_code]))
    assert not ours(docker_client, sandbox.pool._pool_id)


KILLED_CONTROLLER = r'''
import asyncio, sys
from evaluators.task import load_task
from evolve.executors import local_executor
async def main():
    task = load_task(task_dir=sys.argv[2])
    sandbox = local_executor("docker", workers=2, image=sys.argv[1])
    slow = "import time\ndef solve(x):\n    time.sleep(120)\n"
    first = asyncio.ensure_future(sandbox.evaluate(task, slow, __import__("sandbox").Limits(wall_s=100, cpu_s=100)))
    await asyncio.sleep(3)
    print("busy", flush=True)
    await first
asyncio.run(main())
'''


def test_controller_kill9_leaves_no_container(docker_image, docker_client, tmp_path):
    script = tmp_path / "controller.py"
    script.write_text(KILLED_CONTROLLER)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script), docker_image, str(PROBE_TASK)], stdout=subprocess.PIPE,
                            env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == b"busy"
        owner_filter = {"label": f"{LABEL_OWNER}={os.uname().nodename}:{proc.pid}"}
        assert len(docker_client.containers.list(all=True, filters=owner_filter)) == 2  # one busy, one idle
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while docker_client.containers.list(all=True, filters=owner_filter) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert docker_client.containers.list(all=True, filters=owner_filter) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_doctor_and_build_if_absent(docker_image):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    doctor = subprocess.run([sys.executable, "-m", "evolve.commands.sandbox", "doctor"], capture_output=True, text=True,
                            env=env, cwd=ROOT)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "is absent" not in doctor.stdout
    build = subprocess.run([sys.executable, "-m", "evolve.commands.sandbox", "build", "--if-absent"], capture_output=True,
                           text=True, env=env, cwd=ROOT)
    assert build.returncode == 0 and "already present" in build.stdout, build.stdout + build.stderr
    unreachable = subprocess.run([sys.executable, "-m", "evolve.commands.sandbox", "doctor"], capture_output=True,
                                 text=True, env=dict(env, DOCKER_HOST="unix:///nonexistent/docker.sock"), cwd=ROOT)
    assert unreachable.returncode == 1
    assert unreachable.stdout.strip().splitlines() == [unreachable.stdout.strip()]  # one line
    assert unreachable.stdout.startswith("Docker engine unreachable at unix:///nonexistent/docker.sock")


def test_missing_image_is_one_clear_error(docker_client):
    from sandbox.docker_backend import DockerUnavailable
    with pytest.raises(DockerUnavailable, match=r"sandbox image evolve-sandbox:none-such is absent; build it"):
        local_executor("docker", workers=1, image="evolve-sandbox:none-such")
