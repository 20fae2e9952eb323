"""The contract between the engine and protocol clients; clients implement it structurally."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from llmbench.records import Reply, RequestRecord, RequestSpec, SendContext

if TYPE_CHECKING:
    from llmbench.engine.closed_loop import RunOutcome
    from llmbench.tasks import TaskRecord


class Client(Protocol):
    """Sends one request and reports what it saw.

    `send` never raises for a failed request: it returns a record whose `error` says why. If the
    task running it is cancelled, it returns a record with category `cancelled` that keeps the
    timings seen so far.
    """

    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord: ...


class Conversant(Client, Protocol):
    """A client that can also return the reply's text (agent workloads)."""

    async def converse(self, spec: RequestSpec, ctx: SendContext) -> Reply: ...


class AgentDriver(Protocol):
    """An agent workload's load (sessions, agent loops, DAG tasks): it makes each request from
    the replies before it, so it drives the client itself instead of taking a list of items.

    `concurrency` is the most requests it can have in flight (sizes the connection pool); `run`
    gives `sink` every request record and `task_sink` every task record (warm-up ones marked),
    honours `stop` like the closed loop (cancel in-flight requests, keep their records) and says
    why it stopped.
    """

    @property
    def concurrency(self) -> int: ...

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: Callable[[RequestRecord], None],
        task_sink: Callable[[TaskRecord], None],
        stop: asyncio.Event | None,
    ) -> RunOutcome: ...
