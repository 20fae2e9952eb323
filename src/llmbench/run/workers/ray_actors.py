"""Load workers as Ray actors (`--ray ADDRESS|local`): a placement beside the local process pool.

Ray places the actors (a placement group, SPREAD over the nodes) and runs them; each actor runs
the very worker of a local run (`child.serve`: its own uvloop loop, connection pool and share of
the plan) over a TCP connection back to this process instead of a socket pair, so the pool reads,
starts, stops and reaps them as it does its own processes. Each actor's clock is compared with
this process's before the start: on this host (one boot id) the offset is 0 exactly, elsewhere
it is estimated from the fastest of a few round trips, and its uncertainty is half that trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import secrets
import socket
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import psutil

from llmbench.config import RunSpec
from llmbench.config.ray import RaySettings
from llmbench.engine.loop import loop_factory
from llmbench.errors import ConfigError, DistributedError
from llmbench.monitor.environment import capture_environment
from llmbench.monitor.processes import not_client
from llmbench.run.plan import LoadPlan
from llmbench.run.workers.child import WorkerTask, serve
from llmbench.run.workers.pool import EXIT_TIMEOUT_S, READY_TIMEOUT_S, Placed
from llmbench.run.workers.wire import read_frame, write_frame

START_LEAD_NS = 500_000_000  # the start message crosses the network to every node
CONNECT_TIMEOUT_S = 5.0
CLOCK_SAMPLES = 7  # round trips per actor; the fastest one sets the offset
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024  # `--ray local` moves no objects worth more
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def import_ray() -> ModuleType:
    """The ray module, or a ConfigError that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray needs Ray, which is not installed here",
            where="ray.address (--ray)",
            hint="pip install 'llmbench[ray]' (the same Ray version as the cluster's), "
            "or drop --ray to run the workers as local processes (--workers N)",
        ) from None
    return ray


@cache
def boot_id() -> str:
    """This host's boot id: processes that share it share CLOCK_MONOTONIC."""
    path = Path("/proc/sys/kernel/random/boot_id")
    return path.read_text().strip() if path.exists() else f"{socket.gethostname()}:{os.getpid()}"


class LoadWorker:
    """The actor: tells its clock and environment, then runs one worker's share (Ray wraps it
    at placement)."""

    def clock(self) -> tuple[int, str, str]:
        import ray  # in the actor: there, Ray is installed

        node_id = ray.get_runtime_context().get_node_id()
        return time.monotonic_ns(), boot_id(), f"{socket.gethostname()} (node {node_id[:12]})"

    def environment(self) -> dict[str, Any]:
        return capture_environment()  # this node's host, Python and packages

    def run(self, task: WorkerTask, host: str, port: int, token: str) -> None:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_serve_tcp(task, host, port, token))


async def _serve_tcp(task: WorkerTask, host: str, port: int, token: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    write_frame(writer, [{"t": "hello", "worker": task.worker_id, "token": token}])
    await serve(task, reader, writer)


@dataclass(frozen=True, slots=True)
class _ActorInfo:
    offset_ns: int  # the actor's monotonic clock minus this process's
    uncertainty_ns: int
    node: str
    environment: dict[str, Any] | None = None


class _RayWorker:
    """A worker actor as the pool sees a process: alive while its `run` call has not ended."""

    def __init__(self, ray: ModuleType, actor: Any, done: Any, clock: _ActorInfo) -> None:
        self._ray = ray
        self._actor = actor
        self._done = done  # the ObjectRef of its `run` call
        self._clock = clock

    @property
    def clock_offset_ns(self) -> int:
        return self._clock.offset_ns

    def is_alive(self) -> bool:
        finished, _ = self._ray.wait([self._done], timeout=0)
        return not finished

    def kill(self) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing to kill
            self._ray.kill(self._actor, no_restart=True)

    async def exit_code(self) -> int | None:
        """Waits for its `run` call to end (killing it after EXIT_TIMEOUT_S); Ray gives no
        exit code, so None."""
        try:
            async with asyncio.timeout(EXIT_TIMEOUT_S):
                await asyncio.wrap_future(self._done.future())
        except TimeoutError:
            self.kill()
        except Exception:  # noqa: BLE001 - the actor died: its records say so (worker_lost)
            pass
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "node": self._clock.node,
            "clock_offset_ns": self._clock.offset_ns,
            "clock_uncertainty_ns": self._clock.uncertainty_ns,
            "environment": self._clock.environment,
        }


class RayPlacement:
    """N worker actors spread over a Ray cluster by one placement group."""

    name: Literal["spawn", "ray"] = "ray"
    start_lead_ns = START_LEAD_NS

    def __init__(self, settings: RaySettings) -> None:
        assert settings.address is not None
        self.settings = settings
        self.address = settings.address
        self._ray = import_ray()
        self._server: asyncio.Server | None = None
        self._group: Any = None
        self._actors: list[Any] = []
        self._channel = ""
        self._nodes: set[str] = set()
        self._arrived: dict[int, asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
        self._arrived = {}
        self._token = secrets.token_hex(16)
        self._started_ray = False  # ray.init called here: shut down here

    async def place(self, tasks: list[WorkerTask]) -> list[Placed]:
        await asyncio.to_thread(self._connect, len(tasks))
        loop = asyncio.get_running_loop()
        self._arrived = {task.worker_id: loop.create_future() for task in tasks}
        host = self._records_host()
        self._server = await asyncio.start_server(self._accept, host, self.settings.records_port)
        port = self._server.sockets[0].getsockname()[1]
        self._channel = f"{host}:{port}"
        await asyncio.to_thread(self._reserve, len(tasks))
        actor_class = self._ray.remote(num_cpus=self.settings.cpus_per_worker, max_restarts=0)(
            LoadWorker
        )
        strategy = self._ray.util.scheduling_strategies.PlacementGroupSchedulingStrategy
        for task in tasks:  # all start at once; Ray places each in its bundle
            bundle = strategy(self._group, placement_group_bundle_index=task.worker_id)
            self._actors.append(actor_class.options(scheduling_strategy=bundle).remote())
        clocks = []
        for actor in self._actors:  # one at a time: a busy driver would blur the round trips
            clock = await self._clock(actor)
            environment = await asyncio.wrap_future(actor.environment.remote().future())
            clocks.append(dataclasses.replace(clock, environment=environment))
            self._nodes.add(clock.node)
        runs = [
            actor.run.remote(task, host, port, self._token)
            for actor, task in zip(self._actors, tasks, strict=True)
        ]
        arrivals = await asyncio.gather(
            *(self._arrival(task.worker_id, done) for task, done in zip(tasks, runs, strict=True)),
            return_exceptions=True,
        )
        channels = []
        for arrival in arrivals:  # each ended: connected, failed, or timed out
            if isinstance(arrival, BaseException):
                raise arrival
            channels.append(arrival)
        return [
            Placed(_RayWorker(self._ray, actor, done, clock), reader, writer)
            for actor, done, clock, (reader, writer) in zip(
                self._actors, runs, clocks, channels, strict=True
            )
        ]

    def _connect(self, workers: int) -> None:
        self._started_ray = connect_ray(self._ray, self.settings, workers)

    def _records_host(self) -> str:
        """Where the workers reach this process: the setting, loopback for a cluster on this
        host, else this process's address in the cluster."""
        if self.settings.records_host is not None:
            return self.settings.records_host
        head = self.address.rsplit(":", 1)[0].removeprefix("ray://").strip("[]")
        if self.address == "local" or head in LOOPBACK:
            return "127.0.0.1"
        return str(self._ray.util.get_node_ip_address())

    def _reserve(self, workers: int) -> None:
        util = self._ray.util
        bundles = [{"CPU": self.settings.cpus_per_worker} for _ in range(workers)]
        self._group = util.placement_group(bundles, strategy="SPREAD")
        try:
            self._ray.get(self._group.ready(), timeout=READY_TIMEOUT_S)
        except self._ray.exceptions.GetTimeoutError:
            raise DistributedError(
                f"the Ray cluster at {self.address} has no room for {workers} workers of "
                f"{self.settings.cpus_per_worker:g} CPU each after {READY_TIMEOUT_S:.0f} s",
                hint="use fewer --ray-workers, a smaller --set ray.cpus_per_worker, or add nodes",
            ) from None

    async def _clock(self, actor: Any) -> _ActorInfo:
        """The actor's clock offset from the fastest of CLOCK_SAMPLES round trips."""
        best: tuple[int, int, str] | None = None
        node = ""
        for _ in range(CLOCK_SAMPLES):
            sent = time.monotonic_ns()
            theirs, their_boot, node = await asyncio.wrap_future(actor.clock.remote().future())
            back = time.monotonic_ns()
            if their_boot == boot_id():  # one host: one clock, no estimate needed
                return _ActorInfo(0, 0, node)
            trip = back - sent
            if best is None or trip < best[0]:
                best = (trip, theirs - (sent + back) // 2, node)
        assert best is not None
        return _ActorInfo(best[1], (best[0] + 1) // 2, node)

    async def _arrival(
        self, worker_id: int, done: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The worker's connection, or a DistributedError when its actor fails first."""
        arrived = self._arrived[worker_id]
        ended = asyncio.ensure_future(asyncio.wrap_future(done.future()))
        finished, _ = await asyncio.wait(
            {arrived, ended}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if arrived in finished:
            ended.cancel()
            return arrived.result()
        ended.cancel()
        reason = "did not connect" if not finished else _failure(ended)
        raise DistributedError(
            f"Ray worker {worker_id} {reason}",
            hint=f"every node must reach this host at {self._channel} (--set "
            "ray.records_host/records_port) and have llmbench installed (docs/distributed.md)",
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A worker's connection: its hello names it; anything else is closed."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            async with asyncio.timeout(READY_TIMEOUT_S):
                messages, _ = await read_frame(reader)
            hello = messages[0] if messages else {}
            arrived = self._arrived.get(hello.get("worker", -1))
            if hello.get("token") == self._token and arrived and not arrived.done():
                arrived.set_result((reader, writer))
                return
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        ray = self._ray
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        if self._group is not None:
            with contextlib.suppress(Exception):
                ray.util.remove_placement_group(self._group)
        if self._started_ray:
            ray.shutdown()

    def describe(self) -> dict[str, Any] | None:
        return {
            "address": self.address,
            "placement_strategy": "SPREAD",
            "nodes": len(self._nodes),
            "ray_version": self._ray.__version__,
            "records_channel": self._channel,
        }


def connect_ray(ray: ModuleType, settings: RaySettings, workers: int) -> bool:
    """Connects this process to the cluster at `settings.address` (`local`: starts a one-host
    instance with room for `workers`); False when it is connected already (a study's session:
    its runs reuse it, and only who connected shuts it down)."""
    if ray.is_initialized():
        return False
    address = settings.address
    assert address is not None
    if address != "local":
        _check_reachable(address)
    # Ray's own notes (not on the main thread, no SIGTERM handler) are not the run's.
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address == "local":  # a one-host instance for trying it out
            cpus = max(1, math.ceil(workers * settings.cpus_per_worker))
            before = _children()
            ray.init(
                address="local", num_cpus=cpus, include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet,
            )  # fmt: skip
            # Its daemons and actors are children of this process, not the client's own work.
            not_client(_children() - before)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
        with contextlib.suppress(Exception):  # whatever half of it had started
            ray.shutdown()
        raise DistributedError(
            f"cannot use the Ray cluster at {address}: {exc}",
            hint="start it with `ray start --head` on the head node and `ray start "
            "--address HEAD:6379` on the others (docs/distributed.md), or try --ray local",
        ) from None
    return True


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children()}


def ray_placement(spec: RunSpec, load: LoadPlan) -> RayPlacement | None:
    """The run's Ray placement (`--ray`), else None: the load runs on this host."""
    if spec.ray.address is None:
        return None
    if load.agent is not None:  # its requests depend on each other's replies
        raise ConfigError(
            "an agent workload (sessions, tasks, agent loop) runs in one process, not on Ray",
            where="ray.address (--ray)",
            hint="drop --ray for this workload",
        )
    return RayPlacement(spec.ray)


def _check_reachable(address: str) -> None:
    """A quick TCP connect to the head, so that a wrong address fails in seconds (Ray itself
    retries for minutes and cannot be interrupted meanwhile)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # `auto` and the like: Ray finds the cluster itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise DistributedError(
            f"cannot reach the Ray cluster at {address}: {exc}",
            hint="start it with `ray start --head --port PORT` (docs/distributed.md), check the "
            "address and that the port is open from here, or try --ray local",
        ) from None


def _failure(ended: asyncio.Future[Any]) -> str:
    if ended.cancelled():
        return "ended before connecting"
    error = ended.exception()
    return f"failed before connecting: {error}" if error else "ended before connecting"
