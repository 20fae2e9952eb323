"""The contract between the engine and protocol clients; clients implement it structurally."""

from __future__ import annotations

from typing import Protocol

from llmbench.records import Reply, RequestRecord, RequestSpec, SendContext


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
