"""Turns a run's `LoadSpec` into what the engine runs (a closed-loop plan or an open-loop
schedule, with the request stream), runs it, and judges the load it delivered (validity block,
goodput). Schedules are seeded from the workload seed, so repeats send the same plan.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmbench.config import LoadSpec, RunSpec, WorkloadSpec
from llmbench.engine.closed_loop import ClosedLoopPlan, RecordSink, RunOutcome, run_closed_loop
from llmbench.engine.open_loop import OpenLoopPlan, PacingStats, run_open_loop
from llmbench.engine.protocol import Client
from llmbench.engine.schedules import (
    Offsets,
    constant_offsets,
    gamma_offsets,
    ramp_offsets,
    ramp_stream_starts,
    scaled_offsets,
)
from llmbench.metrics.columns import RunColumns
from llmbench.metrics.delivery import closed_loop_delivery, open_loop_delivery
from llmbench.metrics.slo import goodput
from llmbench.records import RequestRecord, RequestSpec
from llmbench.store.run_schema import LoadOutcome
from llmbench.workload.lengths import Lengths
from llmbench.workload.synthetic import synthetic_requests
from llmbench.workload.trace import load_trace, trace_requests


def _rate_offsets(load: LoadSpec, seed: int) -> Offsets:
    assert load.rate is not None  # the spec's validators require it for these profiles
    total = None if load.requests is None else load.requests + load.warmup
    if load.profile == "constant":
        return constant_offsets(load.rate, max_requests=total, duration_s=load.duration_s)
    if load.profile == "ramp":
        assert load.duration_s is not None
        return ramp_offsets(load.ramp_start_rate, load.rate, load.duration_s, max_requests=total)
    burstiness = load.burstiness if load.profile == "gamma" else 1.0
    return gamma_offsets(
        load.rate,
        random.Random(seed),
        burstiness=burstiness,
        max_requests=total,
        duration_s=load.duration_s,
    )


@dataclass
class LoadPlan:
    """One run's load, ready to run: exactly one of `closed` / `open` is set."""

    spec: RunSpec
    items: Iterator[RequestSpec]
    closed: ClosedLoopPlan | None = None
    open: OpenLoopPlan | None = None
    pacing: PacingStats = field(default_factory=PacingStats)

    @property
    def connection_limit(self) -> int:
        """HTTP connections: the spec's, else one per stream (0 = unlimited for open loops)."""
        if self.spec.target.connection_limit is not None:
            return self.spec.target.connection_limit
        if self.closed is not None:
            return self.closed.concurrency
        assert self.open is not None
        return self.open.max_concurrency or 0

    @property
    def warm_connections(self) -> int:
        """Connections to open before the load: one per stream, or per expected in-flight send."""
        if self.closed is not None:
            return self.closed.concurrency
        assert self.open is not None
        if self.open.max_concurrency:
            return self.open.max_concurrency
        rate = self.spec.load.rate
        return max(1, min(64, math.ceil(rate))) if rate else 8

    async def run(
        self, client: Client, *, target_id: str, sink: RecordSink, stop: asyncio.Event | None
    ) -> RunOutcome:
        if self.open is not None:
            return await run_open_loop(
                client, self.items, self.open, target_id=target_id, sink=sink, stop=stop,
                stats=self.pacing,
            )  # fmt: skip
        assert self.closed is not None
        return await run_closed_loop(
            client, self.items, self.closed, target_id=target_id, sink=sink, stop=stop
        )

    def assess(
        self, records: Sequence[RequestRecord] | RunColumns, duration_s: float | None
    ) -> LoadOutcome:
        """run.json blocks: `delivery`, `validity` and (with objectives) `goodput`."""
        load = self.spec.load
        if self.open is not None:
            out = open_loop_delivery(
                records,
                requested_rate_per_s=load.rate,
                waited_for_cap=self.pacing.waited_for_cap,
                dispatch_lag_ns=self.pacing.dispatch_lag_ns,
                validity=load.validity,
            )
        else:
            ramp = load.profile == "ramp"
            requested = None if ramp else load.concurrency
            out = closed_loop_delivery(records, concurrency=requested, validity=load.validity)
        if self.spec.slo is not None:
            out["goodput"] = goodput(
                records, self.spec.slo, duration_s=duration_s, from_scheduled=self.open is not None
            )
        return LoadOutcome.model_validate(out)


def length_distributions(workload: WorkloadSpec) -> tuple[Lengths, Lengths]:
    """The workload's prompt and output length distributions (fixed unless a stddev or mix)."""
    floor = max(1, workload.prefix_tokens)
    inputs = Lengths(workload.input_tokens, workload.input_tokens_stddev, workload.input_mix, floor)
    outputs = Lengths(workload.output_tokens, workload.output_tokens_stddev, workload.output_mix)
    return inputs, outputs


def build_load(spec: RunSpec) -> LoadPlan:
    """The plan of one single-step profile (sweeps and searches build one per step)."""
    load, seed = spec.load, spec.workload.seed
    if load.profile == "replay":
        assert load.trace is not None
        total = None if load.requests is None else load.requests + load.warmup
        entries = load_trace(Path(load.trace), max_requests=total)
        offsets = scaled_offsets([e.timestamp_ms for e in entries], load.trace_time_scale)
        if load.duration_s is not None:
            offsets = [o for o in offsets if o < load.duration_s * 1e9]
        plan = OpenLoopPlan(offsets, load.max_concurrency, load.warmup)
        return LoadPlan(spec, trace_requests(entries[: len(offsets)], seed=seed), open=plan)
    inputs, outputs = length_distributions(spec.workload)
    items = synthetic_requests(
        input_tokens=spec.workload.input_tokens,
        output_tokens=spec.workload.output_tokens,
        seed=seed,
        prefix_tokens=spec.workload.prefix_tokens,
        prompt_set=spec.workload.prompt_set,
        inputs=inputs,
        outputs=outputs,
    )
    if load.open_loop:
        offsets = _rate_offsets(load, seed)
        return LoadPlan(spec, items, open=OpenLoopPlan(offsets, load.max_concurrency, load.warmup))
    starts: tuple[int, ...] = ()
    if load.profile == "ramp":
        assert load.duration_s is not None
        starts = tuple(ramp_stream_starts(load.concurrency, load.duration_s))
    closed = ClosedLoopPlan(
        load.concurrency, load.requests, load.duration_s, load.warmup, stream_starts_ns=starts
    )
    return LoadPlan(spec, items, closed=closed)
