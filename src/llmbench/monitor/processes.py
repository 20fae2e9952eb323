"""Process, host and GPU monitors: CPU and memory of the client (this process and its worker
processes), of the target's process when it runs on this host, and of the host; GPU
utilization, memory, power and clocks through NVML when a GPU is present. Sampled on a thread
(NVML and /proc reads block; the event loop must not), stamped on the run's monotonic clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import psutil
from pydantic import BaseModel, ConfigDict

from llmbench.monitor.gpu import GpuDevice, GpuReader, open_gpus

SERIES_FILE = "monitors.jsonl"

# Process trees this process started that are not the client: a local Ray instance's daemons and
# the actors they host (their CPU is reported per node, not as the driver's).
_NOT_CLIENT: set[int] = set()


def not_client(pids: set[int]) -> None:
    """Leaves `pids` and their descendants out of the client's CPU and memory from now on."""
    _NOT_CLIENT.update(pids)


def pid_listening_on(port: int) -> int | None:
    """The local process that listens on TCP `port`; None when none does or the OS hides it
    (another user's process without privileges)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


class _Group:
    """CPU (% of one core, summed) and resident memory of a set of processes."""

    def __init__(self, pids: Callable[[], set[int]]) -> None:
        self._pids = pids
        self._procs: dict[int, psutil.Process] = {}

    def sample(self) -> dict[str, float] | None:
        cpu = rss = 0.0
        alive = 0
        for pid in self._pids():
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # the first call starts the measurement
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
                alive += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._procs.pop(pid, None)
        return {"cpu_percent": cpu, "rss_bytes": rss, "processes": alive} if alive else None


class MeanMax(BaseModel):
    """A quantity's mean and max over the samples that had it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    mean: float
    max: float


class Monitors(BaseModel):
    """run.json's `monitors` block: mean and max per quantity, and where the series is."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    interval_s: float
    samples: int
    file: str = SERIES_FILE
    target_pid: int | None
    target_pid_source: str  # "started by llmbench" | "listens on port N" | "not local" | ...
    client: dict[str, MeanMax]  # by quantity: cpu_percent, rss_bytes, processes
    target: dict[str, MeanMax] | None
    host: dict[str, MeanMax]  # cpu_percent, memory_used_bytes
    gpu: list[GpuDevice] | str  # per device; "none" without a GPU or NVML
    gpu_reason: str | None = None


class ProcessMonitor:
    """`with ProcessMonitor(...) as m:` samples every `interval_s` until the block ends."""

    def __init__(
        self,
        *,
        interval_s: float,
        target_pid: int | None,
        series_path: Path | None,
        gpus: GpuReader | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.target_pid = target_pid
        self._series_path = series_path
        me = psutil.Process()
        exclude = {target_pid} if target_pid else set()

        def client_pids() -> set[int]:
            try:
                children = {c.pid for c in me.children(recursive=True)}
            except psutil.Error:
                children = set()
            others = exclude | _descendants(target_pid) | _NOT_CLIENT
            for pid in tuple(_NOT_CLIENT):
                others |= _descendants(pid)
            return ({me.pid} | children) - others

        self._client = _Group(client_pids)
        self._target = _Group(lambda: {target_pid}) if target_pid else None
        self.gpus = gpus if gpus is not None else open_gpus()
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmbench-monitor", daemon=True)

    def sample(self) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        return {
            "t_ns": time.monotonic_ns(),
            "client": self._client.sample(),
            "target": self._target.sample() if self._target else None,
            "host": {"cpu_percent": psutil.cpu_percent(None), "memory_used_bytes": memory.used},
            "gpu": self.gpus.sample() if self.gpus.devices else None,
        }

    def _run(self) -> None:
        psutil.cpu_percent(None)
        self.sample()  # primes every CPU percentage: the first reading is always 0
        while not self._stop.wait(self.interval_s):
            self.samples.append(self.sample())
        self.samples.append(self.sample())  # the end: a run shorter than one interval has one

    def __enter__(self) -> ProcessMonitor:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.interval_s))
        self.gpus.close()
        if self._series_path is not None:
            with self._series_path.open("wb") as f:
                for s in self.samples:
                    f.write(orjson.dumps(s) + b"\n")

    def summary(self, target_pid_source: str) -> Monitors:
        samples = self.samples
        return Monitors(
            interval_s=self.interval_s,
            samples=len(samples),
            target_pid=self.target_pid,
            target_pid_source=target_pid_source,
            client=_stats([s["client"] for s in samples if s["client"]]),
            target=_stats([s["target"] for s in samples if s["target"]]) if self._target else None,
            host=_stats([s["host"] for s in samples]),
            gpu=self.gpus.summary(samples) if self.gpus.devices else "none",
            gpu_reason=None if self.gpus.devices else self.gpus.reason,
        )


def _descendants(pid: int | None) -> set[int]:
    if pid is None:
        return set()
    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _stats(rows: list[dict[str, float]]) -> dict[str, MeanMax]:
    """Mean and max of each quantity over the samples that have it."""
    out: dict[str, MeanMax] = {}
    for key in rows[0] if rows else ():
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            out[key] = MeanMax(mean=sum(values) / len(values), max=max(values))
    return out
