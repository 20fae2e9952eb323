"""The load generator watches itself: event-loop lag and process CPU, sampled while a run goes.

A client that cannot keep up reports its own queueing as server latency. The watch records a time
series; `verdict` tells a CPU-bound client from a host that delays the client's timestamps by
about X ms, and `judge_metrics` weighs X against each metric's median: a 2 ms delay spoils a
5 ms TTFT, not a 2 s E2E.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmbench.metrics.stats import percentile_min_n, percentiles

LAG_P99_LIMIT_MS = 2.0  # loop lag above this at P99: timestamps are late by about as much
CPU_BUSY_FRACTION = 0.9  # of one core: an asyncio client is single-threaded
CPU_BUSY_LIMIT_S = 2.0  # busy for this long in a row is saturation, not a blip
# The stats gate for a P99: of fewer samples it is one hiccup of the host, not a verdict.
LAG_MIN_SAMPLES = percentile_min_n(99)
LAG_MEDIAN_MIN_SAMPLES = 10  # under LAG_MIN_SAMPLES, the median decides
# A metric whose median is not at least 1/TRUST_FRACTION times the timestamp delay is flagged:
# its values may be off by more than this share.
TRUST_FRACTION = 0.05
_JUDGED = (
    ("ttfb_ms", "TTFB"),
    ("ttft_ms", "TTFT"),
    ("ttfo_ms", "TTFO"),
    ("itl_ms", "ITL"),
    ("tpot_ms", "TPOT"),
    ("e2e_ms", "E2E"),
)
_REMEDY = (
    "spread the load over more client processes (--workers N, one per free core), "
    "move the client to its own cores or machine, "
    "give the target its own core (taskset), or run on a quieter host"
)


@dataclass(frozen=True, slots=True)
class WatchSettings:
    lag_interval_s: float = 0.01
    cpu_window_s: float = 0.5


class ClientWatch:
    """`async with ClientWatch():` samples until the block ends; then `.report()`."""

    def __init__(self, settings: WatchSettings | None = None) -> None:
        self.settings = settings or WatchSettings()
        self.lag_ns = array("q")
        self.cpu_fraction = array("d")  # one value per window: CPU seconds / wall seconds
        self._tasks: list[asyncio.Task[None]] = []

    async def _watch_lag(self) -> None:
        interval_ns = int(self.settings.lag_interval_s * 1e9)
        while True:
            planned = time.monotonic_ns() + interval_ns
            await asyncio.sleep(self.settings.lag_interval_s)
            # Signed: uvloop rounds timers to whole ms and fires up to ~1 ms early; kept as the
            # negative values they are (the verdict judges lateness, `early` counts them).
            self.lag_ns.append(time.monotonic_ns() - planned)

    async def _watch_cpu(self) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        while True:
            await asyncio.sleep(self.settings.cpu_window_s)
            now_wall, now_cpu = time.monotonic(), time.process_time()
            self.cpu_fraction.append((now_cpu - cpu) / max(now_wall - wall, 1e-9))
            wall, cpu = now_wall, now_cpu

    async def __aenter__(self) -> ClientWatch:
        # Owned: started here, cancelled and awaited in __aexit__.
        self._tasks = [
            asyncio.ensure_future(self._watch_lag()),
            asyncio.ensure_future(self._watch_cpu()),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):  # a real failure still raises
                await task

    def raw(self) -> dict[str, Any]:
        """The samples themselves, for a parent to merge across worker processes."""
        return {
            "lag_ns": self.lag_ns.tolist(),
            "cpu_fraction": self.cpu_fraction.tolist(),
            "cpu_window_s": self.settings.cpu_window_s,
        }

    def report(self) -> dict[str, Any]:
        return verdict(
            np.frombuffer(self.lag_ns, dtype=np.int64) / 1e6,
            np.frombuffer(self.cpu_fraction, dtype=np.float64),
            self.settings.cpu_window_s,
        )


def _longest_run(mask: np.ndarray) -> int:
    longest = current = 0
    for busy in mask.tolist():
        current = current + 1 if busy else 0
        longest = max(longest, current)
    return longest


def _lag_reason(lag: dict[str, Any], mean_cpu: float | None) -> str | None:
    """P99 over enough samples; or the median over fewer, since a stuck loop takes few samples
    (each waits out the lag) and one hiccup cannot move a median."""
    if lag["n"] >= LAG_MIN_SAMPLES and lag["p99"] > LAG_P99_LIMIT_MS:
        # Two decimals: a P99 just over the limit must not read "2.0 ms > 2.0 ms".
        reason = f"event-loop lag P99 {lag['p99']:.2f} ms > {LAG_P99_LIMIT_MS} ms"
    elif LAG_MEDIAN_MIN_SAMPLES <= lag["n"] < LAG_MIN_SAMPLES and lag["p50"] > LAG_P99_LIMIT_MS:
        reason = (
            f"event-loop lag P50 {lag['p50']:.1f} ms > {LAG_P99_LIMIT_MS} ms ({lag['n']} samples)"
        )
    else:
        return None
    reason += ": timestamps are taken late by about that much"
    if mean_cpu is not None and mean_cpu < 0.5:
        # A lagging loop with an idle process: the host, not the client, is the bottleneck.
        reason += f" (the client used only {mean_cpu:.0%} of a core: other processes delay it)"
    return reason


def timestamp_delay(lag: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """About how late the client's timestamps were (ms), and on what basis: the loop-lag P99
    over enough samples, the median over fewer (a stuck loop takes few), None under 10; less
    the sampler's own timer rounding. Its timers fire up to a rounding step early or late
    (uvloop rounds them to whole milliseconds), and a read timestamp is taken when the socket
    wakes the loop, not by a timer: the earliest wake-up measures that step (none when no
    timer fired early)."""
    if lag is None or lag["n"] < LAG_MEDIAN_MIN_SAMPLES:
        return None, None
    if lag["n"] >= LAG_MIN_SAMPLES:
        late, basis = float(lag["p99"]), f"event-loop lag P99 over {lag['n']} samples"
    else:
        late, basis = float(lag["p50"]), f"event-loop lag P50 over {lag['n']} samples"
    rounding = max(0.0, -float(lag["min"])) if lag.get("min") is not None else 0.0
    if rounding:
        basis += f", less {rounding:.2f} ms of timer rounding (its earliest wake-up)"
    return max(0.0, late - rounding), basis


def verdict(lag_ms: np.ndarray, cpu_fraction: np.ndarray, cpu_window_s: float) -> dict[str, Any]:
    """`client` block of run.json: lag and CPU figures; whether the client was CPU-bound; the
    delay of its timestamps; and (before `judge_metrics` weighs that delay) `saturated`."""
    mean_cpu = float(cpu_fraction.mean()) if cpu_fraction.size else None
    lag = None
    reasons: list[str] = []
    if lag_ms.size:
        # Percentiles of the signed samples: an early wake-up is an on-time sample for the
        # lateness verdict (its limits are > 0), and `min`/`early` show how early timers fired.
        lag = {
            "n": int(lag_ms.size),
            **percentiles(lag_ms, (50, 99)),  # P99 None below 100 samples
            "max": float(lag_ms.max()),
            "min": float(lag_ms.min()),
            "early": int(np.count_nonzero(lag_ms < 0)),
        }
        if reason := _lag_reason(lag, mean_cpu):
            reasons.append(reason)
    busy_s = _longest_run(cpu_fraction >= CPU_BUSY_FRACTION) * cpu_window_s
    cpu_reasons = []
    if busy_s >= CPU_BUSY_LIMIT_S:
        cpu_reasons.append(
            f"client process at ≥ {CPU_BUSY_FRACTION:.0%} of a core for {busy_s:.1f} s in a row"
        )
    delay_ms, basis = timestamp_delay(lag)
    return {
        "saturated": bool(reasons or cpu_reasons),
        "reasons": reasons + cpu_reasons,
        "remedy": _REMEDY if reasons or cpu_reasons else None,
        "cpu_bound": bool(cpu_reasons),
        "cpu_reasons": cpu_reasons,
        "timestamp_delay_ms": delay_ms,
        "timestamp_delay_basis": basis,
        "loop_lag_ms": lag,
        "cpu": {
            "window_s": cpu_window_s,
            "mean_fraction": mean_cpu,
            "max_fraction": float(cpu_fraction.max()) if cpu_fraction.size else None,
            "busy_s_longest": busy_s,
            "series": [round(float(x), 3) for x in cpu_fraction],
        },
    }


def judge_metrics(client: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The `client` block with trust judged per metric: the timestamp delay X against each
    metric's median. `saturated` becomes: CPU-bound, or some metric's median under X /
    TRUST_FRACTION; `trust` holds the per-metric figures."""
    delay_ms = client.get("timestamp_delay_ms")
    metrics: dict[str, Any] = {}
    for key, _ in _JUDGED:
        stats = summary.get(key) or {}
        median = stats.get("p50")
        if delay_ms is None or median is None or not stats.get("n"):
            continue
        fraction = _error_ms(key, delay_ms, summary) / median if median > 0 else None
        metrics[key] = {
            "median_ms": median,
            "delay_fraction": fraction,
            "trustworthy": fraction is not None and fraction <= TRUST_FRACTION,
        }
    affected = [key for key, m in metrics.items() if not m["trustworthy"]]
    reasons = list(client.get("cpu_reasons") or [])
    if affected:
        reasons.append(_delay_reason(client, metrics, affected))
    return {
        **client,
        "saturated": bool(reasons),
        "reasons": reasons,
        "remedy": (client.get("remedy") or _REMEDY) if reasons else None,
        "trust": {
            "timestamp_delay_ms": delay_ms,
            "basis": client.get("timestamp_delay_basis"),
            "limit_fraction": TRUST_FRACTION,
            "metrics": metrics,
            "affected": affected,
        },
    }


def _error_ms(key: str, delay_ms: float, summary: dict[str, Any]) -> float:
    """How far a timestamp delay can move one value of the metric: the delay itself for a
    difference of two timestamps; for TPOT, (E2E − TTFT) / (tokens − 1), that over the tokens."""
    if key != "tpot_ms":
        return delay_ms
    tokens = (summary.get("output_tokens") or {}).get("p50")
    return delay_ms / (tokens - 1) if tokens and tokens > 2 else delay_ms


def _delay_reason(client: dict[str, Any], metrics: dict[str, Any], affected: list[str]) -> str:
    labels = dict(_JUDGED)
    parts = []
    for key in affected:
        m = metrics[key]
        share = "all of it" if m["delay_fraction"] is None else f"{m['delay_fraction']:.0%}"
        parts.append(f"{labels[key]} (median {m['median_ms']:.2f} ms: {share})")
    reason = (
        f"the host delayed the client's timestamps by about {client['timestamp_delay_ms']:.2f} ms"
        f" ({client.get('timestamp_delay_basis')}), more than {TRUST_FRACTION:.0%} of "
        + ", ".join(parts)
    )
    mean_cpu = (client.get("cpu") or {}).get("mean_fraction")
    if mean_cpu is not None and mean_cpu < 0.5:
        reason += f"; the client used only {mean_cpu:.0%} of a core: other processes delay it"
    return reason


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """One worker process's watch samples (`ClientWatch.raw()`); None: the worker died."""

    worker_id: int
    pid: int | None
    raw: dict[str, Any] | None


def _entry(worker: WorkerHealth, report: dict[str, Any] | None) -> dict[str, Any]:
    lag = (report or {}).get("loop_lag_ms") or {}
    cpu = (report or {}).get("cpu") or {}
    return {
        "worker_id": worker.worker_id,
        "pid": worker.pid,
        "lost": report is None,
        "saturated": bool(report and report["saturated"]),
        "reasons": report["reasons"] if report else [],
        "loop_lag_ms_p99": lag.get("p99"),
        "cpu_mean_fraction": cpu.get("mean_fraction"),
        "cpu_max_fraction": cpu.get("max_fraction"),
    }


def merge_reports(workers: Sequence[WorkerHealth], parent: dict[str, Any]) -> dict[str, Any]:
    """The `client` block of a multi-process run: the verdict over every worker's lag samples
    pooled (percentiles of the pooled samples, never averaged) and the busiest worker's CPU,
    saturated when any worker is; plus one entry per worker and the parent's own report."""
    alive = [w for w in workers if w.raw is not None]
    reports = {w.worker_id: _report_of(w.raw) for w in alive if w.raw is not None}
    lag_ms = np.concatenate(
        [np.asarray(w.raw["lag_ns"], dtype=np.int64) / 1e6 for w in alive if w.raw] or [np.zeros(0)]
    )
    busiest = max(alive, key=lambda w: _mean_cpu(w.raw), default=None)
    raw = busiest.raw if busiest is not None and busiest.raw is not None else {}
    cpu = np.asarray(raw.get("cpu_fraction", []), dtype=float)
    out = verdict(lag_ms, cpu, raw.get("cpu_window_s", WatchSettings().cpu_window_s))
    reasons = [
        f"worker {w.worker_id} (pid {w.pid}): {reason}"
        for w in alive
        for reason in reports[w.worker_id]["reasons"]
    ]
    cpu_reasons = [
        f"worker {w.worker_id} (pid {w.pid}): {reason}"
        for w in alive
        for reason in reports[w.worker_id]["cpu_reasons"]
    ]
    out.update(
        saturated=bool(reasons),
        reasons=reasons,
        cpu_bound=bool(cpu_reasons),
        cpu_reasons=cpu_reasons,
        remedy=(
            "use more --workers (one per free core), give the target its own cores (taskset), "
            "or run on a quieter host"
        )
        if reasons
        else None,
        workers=[_entry(w, reports.get(w.worker_id)) for w in workers],
        parent=parent,
    )
    out["cpu"]["worker_id"] = busiest.worker_id if busiest else None
    return out


def _report_of(raw: dict[str, Any]) -> dict[str, Any]:
    return verdict(
        np.asarray(raw["lag_ns"], dtype=np.int64) / 1e6,
        np.asarray(raw["cpu_fraction"], dtype=float),
        raw["cpu_window_s"],
    )


def _mean_cpu(raw: dict[str, Any] | None) -> float:
    values = (raw or {}).get("cpu_fraction") or []
    return sum(values) / len(values) if values else 0.0
