"""The Ray executor: each evaluation runs in a sandbox on a node of a Ray cluster.

A pool of actors, each holding a warm sandbox worker, one evaluation at a time. Every actor
asks for what one evaluation of the task needs (task.yaml `resources:`), so Ray places it on a
node where that fits; actors that fit nowhere yet stay pending, so the evaluations in flight
follow the cluster's free resources, capped by `workers`.

Exactly once: the controller records results, and `evaluate` returns exactly one per call.
Ray never retries on its own (max_restarts=0, max_task_retries=0); a lost node or worker is
an error here and the evaluation is re-run on another actor (`ray.retries` times). A
candidate's crash or timeout is a normal result from the node, so it is never retried.
The actors belong to this process: when it dies (even by kill -9) Ray ends them, and with
them the sandbox workers and candidates (they die with their parent).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from sandbox import SCORER_GRACE_S
from evaluators.contract import EvaluationResult, Executor, Status
from sandbox import SandboxUnavailable
from sandbox import Limits

from . import task_bundle
from .ray_connect import DEFAULT_TIMEOUT_S, init_within
from .resources import check_fits, resource_request

# Time beyond the sandbox's own deadline before a silent node is given up for lost.
NODE_GRACE_S = 60.0
log = logging.getLogger(__name__)
# Actor starts that may fail in a row (nodes dying as they come up) before the pool gives up.
MAX_START_FAILURES = 8
# Why `ray://` is refused (README, "Running on a cluster"): a Ray Client session's driver lives on the
# head node and is torn down when the client's connection drops for longer than Ray's reconnect
# grace, taking the campaign's evaluation actors with it; the controller belongs on the cluster.
RAY_CLIENT_REFUSAL = ("--ray-address {address}: Ray Client (ray://) addresses are not supported: a campaign's "
                      "controller must run on the cluster, not behind a client connection; submit it as a Ray job "
                      "(`ray job submit --working-dir DIR -- evolve run ...`) or run evolve on a cluster node with "
                      "--ray-address HOST:PORT")


def import_ray():
    try:
        import ray
    except ImportError:
        raise SandboxUnavailable("the Ray executor needs Ray: pip install 'evolve[ray]'") from None
    return ray


def connect(address: str | None, timeout: float = DEFAULT_TIMEOUT_S):
    """Connect this process to a running cluster once, or fail in one line within `timeout` seconds;
    returns the ray module."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    if target.startswith("ray://"):
        raise SandboxUnavailable(RAY_CLIENT_REFUSAL.format(address=target))
    init_within(ray, target, timeout)
    _keep_stdout_clean(ray)
    return ray


def _keep_stdout_clean(ray) -> None:
    """Ray prints cluster errors (a raylet died, ...) on the driver's stdout, where `--json` output
    goes; send the first line of each to stderr through our logger instead."""
    module = ray._private.worker  # the listener thread looks this name up at each message
    original = getattr(module, "print_to_stdstream", None)
    if original is None or getattr(original, "evolve_routed", False):
        return

    def to_log(data, ignore_prefix=False):
        if data.get("pid") == "raylet":
            for line in data.get("lines", [])[:1]:
                log.warning("ray: %s", str(line).strip().splitlines()[0][:300] if str(line).strip() else line)
            return
        original(data, ignore_prefix)

    to_log.evolve_routed = True  # type: ignore[attr-defined]
    module.print_to_stdstream = to_log


def alive_nodes(ray) -> list[dict[str, Any]]:
    """Resources of each alive node, as Ray reports them (CPU, GPU, memory, custom...)."""
    return [dict(node["Resources"], NodeID=node["NodeID"]) for node in ray.nodes() if node.get("Alive")]


class _ActorPool:
    """The actors evaluating one task; idle ones wait in a queue."""

    def __init__(self, executor: "RayExecutor", task, request: dict[str, Any], bundle: list | None):
        self.executor = executor
        self.task = task
        self.request = request
        self.bundle = bundle
        self.idle: asyncio.Queue = asyncio.Queue()
        self.actors: set = set()
        self.starting: set[asyncio.Task] = set()
        self.start_failures = 0
        self.failure: str | None = None
        self.actor_class = None

    def spawn(self) -> None:
        if self.actor_class is None:
            from .ray_node import EvaluationActor
            self.actor_class = self.executor.ray.remote(EvaluationActor).options(
                max_restarts=0, max_task_retries=0, max_concurrency=4, scheduling_strategy="SPREAD",
                **self.request)
        actor = self.actor_class.remote(self.executor.sandbox, self.executor.jail, self.executor.sandbox_options)
        self.actors.add(actor)
        started = asyncio.create_task(self._await_ready(actor))
        self.starting.add(started)
        started.add_done_callback(self.starting.discard)

    async def _await_ready(self, actor) -> None:
        ray = self.executor.ray
        try:
            info = await actor.ready.remote()
        except ray.exceptions.RayError as exc:  # its node died while it started: try again elsewhere
            self.discard(actor)
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                self.fail(f"Ray could not start an evaluation actor {self.start_failures} times in a row: "
                          f"{str(exc).splitlines()[0][:200]}")
            elif not self.executor.closing:
                await asyncio.sleep(min(5.0, 0.5 * self.start_failures))
                self.spawn()
            return
        if "unavailable" in info:  # the sandbox cannot run on that node: not something a retry fixes
            self.discard(actor)
            self.fail(info["unavailable"])
            return
        self.start_failures = 0
        self.executor.nodes_used[id(actor)] = info["node_id"]
        self.idle.put_nowait(actor)

    def discard(self, actor) -> None:
        self.actors.discard(actor)
        self.executor.nodes_used.pop(id(actor), None)
        with contextlib.suppress(Exception):
            self.executor.ray.kill(actor, no_restart=True)

    def fail(self, message: str) -> None:
        self.failure = message
        for _ in range(self.executor.workers + 1):  # wake every waiter
            self.idle.put_nowait(None)

    async def take(self):
        actor = await self.idle.get()
        if actor is None:
            self.idle.put_nowait(None)
            raise SandboxUnavailable(self.failure or "the Ray executor is closed")
        return actor


class RayExecutor(Executor):
    """`evaluate(task, code, limits, split)` on a Ray cluster; at most `workers` in flight."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int = 1, sandbox: str = "process", jail: str = "auto",
                 sandbox_options: dict[str, Any] | None = None, retries: int = 2,
                 connect_timeout_s: float = DEFAULT_TIMEOUT_S):
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self.workers = workers
        self.sandbox = sandbox
        self.jail = jail
        self.sandbox_options = dict(sandbox_options or {})
        self.retries = retries
        self.ray = None
        self.closing = False
        self.nodes_used: dict[int, str] = {}  # actor -> the node it runs on
        self.placements: dict[str, int] = {}  # node id -> evaluations returned from it
        self.lost = 0  # evaluations re-run because their node or worker was lost
        self._pools: dict[str, _ActorPool] = {}
        self._lock = asyncio.Lock()

    # ---- before the campaign ---------------------------------------------------------------
    def check(self, task) -> None:
        self.connect_and_fit(task)

    def connect_and_fit(self, task) -> dict[str, Any]:
        """Connect and make sure one evaluation of `task` fits on some node; returns the request."""
        self.ray = connect(self.address, self.connect_timeout_s)
        nodes = alive_nodes(self.ray)
        request = resource_request(task, nodes)
        check_fits(task, request, nodes, self.address or os.environ.get("RAY_ADDRESS") or "auto")
        return request

    # ---- the executor interface -------------------------------------------------------------
    async def evaluate(self, task, code: str, limits: Limits | None = None, split: str | None = None,
                       options: dict[str, Any] | None = None) -> EvaluationResult:
        pool = await self._pool(task)
        limits = limits or task.limits
        split = split or task.spec.train_split
        ray = self.ray
        lost: list[str] = []
        while True:
            actor = await pool.take()
            node = self.nodes_used.get(id(actor), "?")
            call = actor.evaluate.remote(task.ref(), pool.bundle, code, split, limits.to_dict(), options)
            try:
                reply = await asyncio.wait_for(call, limits.wall_s + SCORER_GRACE_S + NODE_GRACE_S)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.ObjectLostError, ray.exceptions.OutOfMemoryError,
                    asyncio.TimeoutError) as exc:
                # The node or its worker went away (or went silent): this attempt never returns.
                pool.discard(actor)
                if not self.closing:
                    self._replace_actor(pool)
                self.lost += 1
                lost.append(f"{type(exc).__name__} on node {node[:12]}")
                log.warning("ray: an evaluation was lost (%s); %s", lost[-1],
                            "giving up on it" if len(lost) > self.retries else "re-running it on another actor")
                if len(lost) > self.retries:
                    return EvaluationResult.failure(
                        Status.CRASHED, f"evaluation lost {len(lost)} times on the Ray cluster; giving up",
                        attempts=lost)
                continue
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    ray.cancel(call, force=False)
                pool.discard(actor)  # it may still be mid-evaluation: never hand it out again
                raise
            except ray.exceptions.RayTaskError as exc:  # a bug in the actor itself: recorded, not retried
                pool.idle.put_nowait(actor)
                return EvaluationResult.failure(Status.CRASHED, f"executor error: {str(exc).splitlines()[0][:300]}")
            pool.idle.put_nowait(actor)
            if "unavailable" in reply:
                raise SandboxUnavailable(reply["unavailable"])
            self.placements[node] = self.placements.get(node, 0) + 1
            return EvaluationResult.from_dict(reply["result"])

    def _replace_actor(self, pool: _ActorPool) -> None:
        """Start a successor for a lost actor, unless no alive node can hold one any more (then every
        waiting evaluation fails in one line rather than waiting for a node that may never come)."""
        try:
            check_fits(pool.task, pool.request, alive_nodes(self.ray), self.address or "auto")
        except SandboxUnavailable as exc:
            pool.fail(str(exc))
            return
        except Exception:  # noqa: BLE001 - the GCS is busy or unreachable: let Ray place (or queue) it
            pass
        pool.spawn()

    async def close(self) -> None:
        self.closing = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            for started in list(pool.starting):
                started.cancel()
            for actor in list(pool.actors):
                pool.discard(actor)
            pool.fail("the Ray executor is closed")

    async def warm_up(self, task, timeout: float = 300.0) -> int:
        """Start the actors for `task` and wait until `workers` of them are ready (or the timeout);
        returns how many are."""
        pool = await self._pool(task)
        deadline = asyncio.get_running_loop().time() + timeout
        while pool.idle.qsize() < self.workers and asyncio.get_running_loop().time() < deadline:
            if pool.failure:
                raise SandboxUnavailable(pool.failure)
            await asyncio.sleep(0.1)
        return pool.idle.qsize()

    # ---- pool ------------------------------------------------------------------------------
    async def _pool(self, task) -> _ActorPool:
        key = str(task.root)
        async with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if self.closing:
                    raise SandboxUnavailable("the Ray executor is closed")
                request = self.connect_and_fit(task)
                bundle = None
                if not task.builtin:  # a user's task directory travels through the object store
                    try:
                        data, digest = task_bundle.pack(task.root)
                    except task_bundle.BundleTooLarge as exc:
                        raise SandboxUnavailable(str(exc)) from None
                    bundle = [digest, self.ray.put(data)]
                pool = self._pools[key] = _ActorPool(self, task, request, bundle)
                for _ in range(self.workers):
                    pool.spawn()
        return pool


def from_config(config) -> RayExecutor:
    return RayExecutor(address=config.ray.address, workers=config.workers, sandbox=config.sandbox,
                       jail=config.jail, retries=config.ray.retries, connect_timeout_s=config.ray.connect_timeout_s)
