"""Test doubles shared by test modules (on sys.path through pytest's `pythonpath`)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

from llmbench.records import (
    ErrorCategory,
    RequestError,
    RequestRecord,
    RequestSpec,
    SendContext,
    Status,
)


class SleepyClient:
    """Answers after `delay_s`; counts requests in flight at once."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord:
        sent = time.monotonic_ns()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            return RequestRecord(
                ctx.request_id, ctx.target_id, spec.item_id, ctx.worker_id, Status.ERROR,
                ctx.scheduled_ns, sent, warmup=ctx.warmup,
                error=RequestError(ErrorCategory.CANCELLED, "cancelled"),
            )  # fmt: skip
        finally:
            self.in_flight -= 1
        return RequestRecord(
            ctx.request_id, ctx.target_id, spec.item_id, ctx.worker_id, Status.OK,
            ctx.scheduled_ns, sent, warmup=ctx.warmup, end_ns=time.monotonic_ns(),
        )  # fmt: skip


def items() -> Iterator[RequestSpec]:
    return (RequestSpec(item_id=f"i{n}", prompt="p", max_tokens=1) for n in itertools.count())
