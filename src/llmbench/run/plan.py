"""Turns a run's `LoadSpec` into what the engine runs (a closed-loop plan or an open-loop
schedule, with the request stream), runs it, and judges the load it delivered (validity block,
goodput). Schedules are seeded from the workload seed, so repeats send the same plan.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmbench.clients.tokens import (
    HFTokenizer,
    Tokenizer,
    chat_template_overhead,
    load_tokenizer,
)
from llmbench.config import (
    ClosedLoad,
    OpenLoad,
    RampLoad,
    ReplayLoad,
    RunSpec,
    WorkloadSpec,
    is_open_loop,
)
from llmbench.engine.closed_loop import ClosedLoopPlan, RecordSink, RunOutcome, run_closed_loop
from llmbench.engine.open_loop import OpenLoopPlan, PacingStats, run_open_loop
from llmbench.engine.protocol import AgentDriver, Conversant
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
from llmbench.run.dag import dag_driver
from llmbench.run.sessions import session_driver
from llmbench.run.task_protocol import task_submissions
from llmbench.run.taskapi import TASK_KINDS, task_api_plan
from llmbench.store.run_schema import LoadOutcome, PromptTokens
from llmbench.tasks import TaskRecord
from llmbench.workload.dataset import dataset_requests, load_dataset
from llmbench.workload.images import image_pool, with_images
from llmbench.workload.lengths import Lengths
from llmbench.workload.synthetic import synthetic_requests
from llmbench.workload.trace import load_trace, trace_requests


def _rate_offsets(load: OpenLoad | RampLoad, seed: int) -> Offsets:
    total = load.total_requests
    if isinstance(load, RampLoad):
        assert load.rate is not None  # a ramp without a rate ramps streams (closed loop)
        return ramp_offsets(load.start_rate, load.rate, load.duration_s, max_requests=total)
    if load.arrival == "constant":
        return constant_offsets(load.rate, max_requests=total, duration_s=load.duration_s)
    return gamma_offsets(
        load.rate,
        random.Random(seed),
        burstiness=load.burstiness,  # 1.0 (Poisson) unless the arrival is gamma
        max_requests=total,
        duration_s=load.duration_s,
    )


TaskSink = Callable[[TaskRecord], None]


@dataclass
class LoadPlan:
    """One run's load, ready to run: exactly one of `closed` / `open` / `agent` is set."""

    spec: RunSpec
    items: Iterator[RequestSpec]
    closed: ClosedLoopPlan | None = None
    open: OpenLoopPlan | None = None
    agent: AgentDriver | None = None  # an agent workload drives the client itself
    pacing: PacingStats = field(default_factory=PacingStats)

    @property
    def connection_limit(self) -> int:
        """HTTP connections: the spec's, else one per stream (0 = unlimited for open loops)."""
        if self.spec.target.connection_limit is not None:
            return self.spec.target.connection_limit
        if self.closed is not None:
            return self.closed.concurrency
        if self.agent is not None:
            return self.agent.concurrency
        assert self.open is not None
        return self.open.max_concurrency or 0

    @property
    def warm_connections(self) -> int:
        """Connections to open before the load: one per stream, or per expected in-flight send."""
        if self.closed is not None:
            return self.closed.concurrency
        if self.agent is not None:
            return self.agent.concurrency
        assert self.open is not None
        if self.open.max_concurrency:
            return self.open.max_concurrency
        rate = getattr(self.spec.load, "rate", None)
        return max(1, min(64, math.ceil(rate))) if rate else 8

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: RecordSink,
        stop: asyncio.Event | None,
        task_sink: TaskSink | None = None,
    ) -> RunOutcome:
        if self.agent is not None:
            assert task_sink is not None, "an agent workload needs a sink for its task records"
            return await self.agent.run(
                client, target_id=target_id, sink=sink, task_sink=task_sink, stop=stop
            )
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
                requested_rate_per_s=getattr(load, "rate", None),
                waited_for_cap=self.pacing.waited_for_cap,
                dispatch_lag_ns=self.pacing.dispatch_lag_ns,
                validity=load.validity,
            )
        else:  # closed loops and agent workloads: each waits for its replies
            # An agent workload's concurrency is its own (no requested stream count to check).
            closed = isinstance(load, ClosedLoad) and self.agent is None
            requested = load.concurrency if closed else None  # type: ignore[union-attr]
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


@functools.lru_cache(maxsize=4)
def prompt_codec(tokenizer: str | None, exact: bool) -> HFTokenizer | None:
    """The tokenizer that cuts prompts to exact lengths: `hf:PATH` with `exact_tokens` only
    (a whitespace prompt of N words is already N whitespace tokens). Loaded once per path."""
    if not exact or tokenizer is None:
        return None
    loaded = load_tokenizer(tokenizer)
    return loaded if isinstance(loaded, HFTokenizer) else None


def prompt_tokens(spec: RunSpec, tokenizer: Tokenizer | None, *, simulated: bool) -> PromptTokens:
    """What run.json says of the prompts' lengths: exact only when cut under an `hf:PATH`
    tokenizer, or N words for a target that counts words (the simulator)."""
    replay = isinstance(spec.load, ReplayLoad)
    codec = None if replay else prompt_codec(spec.tokenizer, spec.workload.exact_tokens)
    if codec is not None:
        name, exact, basis = codec.name, True, "each prompt cut to exactly N of its tokens"
    elif simulated:
        name, exact, basis = "whitespace", True, "N words: the simulator counts one token a word"
    else:
        name, exact = "whitespace", False
        basis = "N words: exact only for a server that counts whitespace-separated words"
    if spec.target.endpoint != "chat":
        overhead, how = None, "no chat template: the completions endpoint sends the raw prompt"
    elif tokenizer is None or not isinstance(tokenizer, HFTokenizer):
        overhead, how = None, "no chat template: no hf:PATH tokenizer to read one from"
    else:
        overhead, how = chat_template_overhead(tokenizer)
    return PromptTokens(
        tokenizer=name,
        lengths="exact" if exact else "approximate",
        basis=basis,
        chat_template_tokens=overhead,
        chat_template=how,
    )


def _scripted_agent(spec: RunSpec) -> AgentDriver | None:
    """The driver of an agent workload given by its own file (DAG tasks, the phone-agent
    loop), else None."""
    if spec.tasks is not None:  # DAG tasks from a task file (docs/tasks.md)
        return dag_driver(spec.tasks, seed=spec.workload.seed)
    if spec.agent_loop is not None:
        from llmbench.run.agent_loop import AgentLoop  # it builds on this module's types

        return AgentLoop(spec.agent_loop, seed=spec.workload.seed)
    return None


def build_load(spec: RunSpec) -> LoadPlan:
    """The plan of one single-step profile (sweeps and searches build one per step)."""
    load, seed = spec.load, spec.workload.seed
    scripted = _scripted_agent(spec)
    if scripted is not None:
        return LoadPlan(spec, iter(()), agent=scripted)
    if isinstance(load, ReplayLoad):
        entries = load_trace(Path(load.trace), max_requests=load.total_requests)
        offsets = scaled_offsets([e.timestamp_ms for e in entries], load.time_scale)
        if load.duration_s is not None:
            offsets = [o for o in offsets if o < load.duration_s * 1e9]
        plan = OpenLoopPlan(offsets, load.max_concurrency, load.warmup)
        return LoadPlan(spec, trace_requests(entries[: len(offsets)], seed=seed), open=plan)
    exact = prompt_codec(spec.tokenizer, spec.workload.exact_tokens)
    if spec.workload.sessions is not None:  # multi-turn: each turn is built from the replies
        return LoadPlan(spec, iter(()), agent=session_driver(spec, exact))
    inputs, outputs = length_distributions(spec.workload)
    if spec.workload.dataset is not None:  # real prompts, in a seeded order
        items: Iterator[RequestSpec] = dataset_requests(
            load_dataset(spec.workload.dataset),
            seed=seed,
            output_tokens=spec.workload.output_tokens,
        )
    else:
        items = synthetic_requests(
            input_tokens=spec.workload.input_tokens,
            output_tokens=spec.workload.output_tokens,
            seed=seed,
            prefix_tokens=spec.workload.prefix_tokens,
            prompt_set=spec.workload.prompt_set,
            inputs=inputs,
            outputs=outputs,
            exact=exact,
        )
    if exact is not None and load.total_requests is not None:
        # Cut every prompt now, before the load: a cut is tokenizer work (~2 ms a 1,000-token
        # prompt), which inside the load would run in the event loop that stamps the times.
        # A run bounded only by its duration cuts them as it sends (seen in its send lag).
        items = iter(list(itertools.islice(items, load.total_requests)))
    if spec.target.kind == "a2a":  # a task protocol: tasks paced by the load, no requests
        return LoadPlan(spec, iter(()), agent=task_submissions(spec, items))
    open_loop = isinstance(load, OpenLoad | RampLoad) and is_open_loop(load)
    if spec.target.kind in TASK_KINDS:  # an agent service: one task per request (run/taskapi.py)
        paced = _rate_offsets(load, seed) if isinstance(load, OpenLoad | RampLoad) else None
        return LoadPlan(spec, iter(()), agent=task_api_plan(spec, items, paced))
    images = spec.workload.images
    if images.wanted:  # made now, before the load: encoding is ~50 ms a phone-sized PNG
        pool = image_pool(count=images.count, size=images.pixels, pattern=images.pattern,
                          fmt=images.format, seed=seed, jpeg_quality=images.jpeg_quality,
                          files=images.files)  # fmt: skip
        items = with_images(items, pool, images.count)
    if isinstance(load, OpenLoad | RampLoad) and open_loop:
        offsets = _rate_offsets(load, seed)
        return LoadPlan(spec, items, open=OpenLoopPlan(offsets, load.max_concurrency, load.warmup))
    assert isinstance(load, ClosedLoad | RampLoad)
    starts: tuple[int, ...] = ()
    if isinstance(load, RampLoad):
        starts = tuple(ramp_stream_starts(load.concurrency, load.duration_s))
    closed = ClosedLoopPlan(
        load.concurrency, load.requests, load.duration_s, load.warmup, stream_starts_ns=starts
    )
    return LoadPlan(spec, items, closed=closed)
