"""How a run's load is split over worker processes: how many workers, and each one's share of
the streams, request bounds, schedule and request stream. Pure functions of the spec, so every
worker computes its own share and the whole is exactly the one-process load.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from llmbench.engine.closed_loop import ClosedLoopPlan
from llmbench.engine.open_loop import OpenLoopPlan
from llmbench.engine.schedules import split_round_robin
from llmbench.records import RequestSpec
from llmbench.run.plan import LoadPlan

# The auto rule's load per worker process. One asyncio process measured saturated at 256
# streams (loop lag P99 ~20 ms on one core, docs/benchmarks.md), fine at 64.
STREAMS_PER_WORKER = 128
RATE_PER_WORKER = 64.0  # requests/s of an uncapped open loop


def usable_cpus(*, local_target: bool) -> int:
    """CPUs this process may run on, less one left to a target llmbench started itself."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) - (1 if local_target else 0))


def _parallelism(load: LoadPlan) -> int:
    """The most workers the load can use: one stream, cap slot or scheduled send each; an
    agent workload runs in one process (its requests depend on each other's replies)."""
    if load.agent is not None:
        return 1
    if load.closed is not None:
        return load.closed.concurrency
    assert load.open is not None
    return load.open.max_concurrency or max(1, len(load.open.offsets_ns))


def _needed(load: LoadPlan) -> int:
    if load.agent is not None:
        return 1
    if load.closed is not None:
        return math.ceil(load.closed.concurrency / STREAMS_PER_WORKER)
    assert load.open is not None
    if load.open.max_concurrency:
        return math.ceil(load.open.max_concurrency / STREAMS_PER_WORKER)
    offsets = load.open.offsets_ns
    span_s = (offsets[-1] - offsets[0]) / 1e9 if len(offsets) > 1 else 0.0
    rate = len(offsets) / span_s if span_s > 0 else 1.0
    return math.ceil(rate / RATE_PER_WORKER)


def choose_workers(load: LoadPlan, *, requested: int | None, cpus: int) -> int:
    """`requested` (never more than the load can use), else one per STREAMS_PER_WORKER
    streams (or RATE_PER_WORKER requests/s) up to `cpus`; always at least one."""
    if requested is not None:
        return max(1, min(requested, _parallelism(load)))
    return max(1, min(_needed(load), cpus, _parallelism(load)))


def dealt(total: int, parts: int, part: int) -> int:
    """Part `part`'s count when `total` is dealt to `parts` in turn (the counts sum to total)."""
    return total // parts + (1 if part < total % parts else 0)


def _select(items: Iterator[RequestSpec], keep: Callable[[int], bool]) -> Iterator[RequestSpec]:
    return (item for index, item in enumerate(items) if keep(index))


@dataclass(frozen=True, slots=True)
class WorkerShare:
    """One worker's part of the load: exactly one of `closed` / `open` is set."""

    items: Iterator[RequestSpec]
    closed: ClosedLoopPlan | None
    open: OpenLoopPlan | None
    connection_limit: int  # 0: unlimited
    warm_connections: int


def _closed_share(load: LoadPlan, plan: ClosedLoopPlan, worker: int, workers: int) -> WorkerShare:
    """Stream j → worker j % workers. Request k of a phase belongs to stream k % c, so the
    bounds split exactly and the workers together send the items one process would."""
    c, warm = plan.concurrency, plan.warmup_requests
    streams = range(worker, c, workers)

    def mine(index: int) -> bool:
        k = index if index < warm else index - warm
        return (k % c) % workers == worker

    max_requests = None
    if plan.max_requests is not None:
        max_requests = sum(dealt(plan.max_requests, c, j) for j in streams)
    share = ClosedLoopPlan(
        len(streams),
        max_requests,
        plan.duration_s,
        sum(dealt(warm, c, j) for j in streams),
        stream_starts_ns=tuple(plan.stream_starts_ns[j] for j in streams)
        if plan.stream_starts_ns
        else (),
    )
    return WorkerShare(
        _select(load.items, mine), share, None, _limit(load, len(streams), worker, workers),
        len(streams),
    )  # fmt: skip


def _open_share(load: LoadPlan, plan: OpenLoopPlan, worker: int, workers: int) -> WorkerShare:
    """Send i → worker i % workers, with the item of send i (the same bytes whatever N is)."""
    pairs = split_round_robin(plan.offsets_ns, workers)[worker]
    cap = None if plan.max_concurrency is None else dealt(plan.max_concurrency, workers, worker)
    share = OpenLoopPlan(
        [offset for _, offset in pairs],
        cap,
        plan.warmup_requests,
        indices=[index for index, _ in pairs],
    )
    items = itertools.islice(load.items, worker, None, workers)
    warm = cap or max(1, math.ceil(load.warm_connections / workers))
    return WorkerShare(items, None, share, _limit(load, cap or 0, worker, workers), warm)


def _limit(load: LoadPlan, default: int, worker: int, workers: int) -> int:
    """The spec's connection limit dealt to the workers, else the worker's own need."""
    limit = load.spec.target.connection_limit
    if limit is None:
        return default
    return 0 if limit == 0 else max(1, dealt(limit, workers, worker))


def worker_share(load: LoadPlan, worker: int, workers: int) -> WorkerShare:
    """Worker `worker`'s (0-based) share of `load` split over `workers` processes."""
    if not 0 <= worker < workers:
        raise ValueError("worker must be in range(workers)")
    if load.closed is not None:
        return _closed_share(load, load.closed, worker, workers)
    assert load.open is not None
    return _open_share(load, load.open, worker, workers)
