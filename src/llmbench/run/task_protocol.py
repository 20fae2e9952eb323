"""A run against an agent spoken to by a task protocol (A2A): each workload item becomes one
task submitted by `run_task`, paced as a closed loop (`concurrency` tasks in flight, warm-up,
request and duration bounds, stop) by the engine's own closed loop, and recorded as one
`TaskRecord`. No request records: a task protocol shows no tokens (docs/agent-services.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from llmbench.config import ClosedLoad, RunSpec
from llmbench.engine.closed_loop import ClosedLoopPlan, RunOutcome, run_closed_loop
from llmbench.engine.protocol import Conversant
from llmbench.errors import ConfigError
from llmbench.records import RequestRecord, RequestSpec, SendContext, Status
from llmbench.tasks import TaskRecord


@runtime_checkable
class TaskSubmitter(Protocol):
    """A client that runs one task per item and reports it (never raises for a failed task)."""

    async def run_task(self, spec: RequestSpec, ctx: SendContext) -> TaskRecord: ...


class _TaskAsRequest:
    """Lets the closed loop pace tasks: each `send` runs one task, hands its record to the
    task sink and answers the loop with a stand-in request record it never stores."""

    def __init__(self, client: TaskSubmitter, task_sink: Callable[[TaskRecord], None]) -> None:
        self._client = client
        self._task_sink = task_sink

    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord:
        task = await self._client.run_task(spec, ctx)
        self._task_sink(task)
        status = Status.OK if task.ok else Status.ERROR
        return RequestRecord(
            request_id=ctx.request_id, target_id=ctx.target_id, item_id=spec.item_id,
            worker_id=ctx.worker_id, status=status, scheduled_ns=ctx.scheduled_ns,
            sent_ns=task.submitted_ns, warmup=ctx.warmup,
        )  # fmt: skip


@dataclass
class TaskSubmissions:
    """The AgentDriver of a task-protocol target: submissions paced by the load's concurrency."""

    items: Iterator[RequestSpec]
    plan: ClosedLoopPlan

    @property
    def concurrency(self) -> int:
        return self.plan.concurrency

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: Callable[[RequestRecord], None],
        task_sink: Callable[[TaskRecord], None],
        stop: asyncio.Event | None,
    ) -> RunOutcome:
        if not isinstance(client, TaskSubmitter):
            raise TypeError(f"{type(client).__name__} cannot submit tasks")  # a wiring bug

        def drop(record: RequestRecord) -> None:
            """The stand-ins are not requests: nothing goes to records.jsonl."""

        paced = _TaskAsRequest(client, task_sink)
        return await run_closed_loop(
            paced, self.items, self.plan, target_id=target_id, sink=drop, stop=stop
        )


def task_submissions(spec: RunSpec, items: Iterator[RequestSpec]) -> TaskSubmissions:
    """The driver for `spec`'s closed load; another load profile is a ConfigError."""
    load = spec.load
    if not isinstance(load, ClosedLoad):
        raise ConfigError(
            f"a {spec.target.kind} target takes a closed load (tasks paced by --concurrency), "
            f"not {load.kind!r}",
            where="load.kind (--profile)",
            hint="use --profile concurrency (or synchronous) with --concurrency N --requests M",
        )
    plan = ClosedLoopPlan(load.concurrency, load.requests, load.duration_s, load.warmup)
    return TaskSubmissions(items, plan)
