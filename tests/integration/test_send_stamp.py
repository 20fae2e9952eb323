"""`sent` is stamped when the request goes onto its connection, not when the client asks for
one: with fewer connections than streams, requests queue in the client's pool, and that wait
must show as send lag, never as TTFT. Checked per request against the simulator's log (one
CLOCK_MONOTONIC for both processes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from llmbench.clients.openai import OpenAIClient
from llmbench.config import ClosedLoad, RunSpec, TargetSpec, WorkloadSpec
from llmbench.records import RequestRecord, RequestSpec, SendContext
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run

StartSim = Callable[..., str]
MS = 1_000_000
TTFT_MS, ITL_MS, TOKENS = 50.0, 5.0, 8  # ~85 ms a request
STREAMS, CONNECTIONS, REQUESTS = 8, 2, 24  # 6 streams wait for a free connection
# Per request, the client's TTFT less the server's (first byte in -> first chunk out) is the
# request's transit plus the first chunk's delivery: two loopback hand-overs. Measured (one-off
# loop over this test's run) on the shared 2-vCPU host, 10 runs each (24 requests a run): the
# largest per run 0.6-6.0 ms quiet (load ~3), 7.1-26.3 ms under 4 CPU hogs (load ~6), the
# transit alone at most 10.9 ms; the test passed 6 of 6 under 4 hogs (load 9.6). A stamp taken
# before the pool wait adds that wait, at least one request's 85 ms for every queued one (here
# 0.26-0.96 s): 50 ms sits between the two with room on both sides.
HAND_OVERS_MAX_MS = 50.0


def sim_log(base_url: str, request_id: str) -> dict[str, Any]:
    with urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_sent_is_stamped_at_the_write_not_before_the_pool_wait(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=TTFT_MS, itl_ms=ITL_MS)
    spec = RunSpec(
        target=TargetSpec(connection_limit=CONNECTIONS),
        workload=WorkloadSpec(input_tokens=16, output_tokens=TOKENS),
        load=ClosedLoad(concurrency=STREAMS, requests=REQUESTS),
    )
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))
    assert run.counts is not None
    assert run.counts.ok == REQUESTS
    records = load_run(tmp_path / "run").records
    queued = 0
    for record in records:
        truth = sim_log(base_url, record.request_id)
        assert record.first_token_ns is not None
        transit_ms = (truth["received_ns"] - record.sent_ns) / MS
        client_ttft_ms = (record.first_token_ns - record.sent_ns) / MS
        server_ttft_ms = (truth["chunk_emit_ns"][0] - truth["received_ns"]) / MS
        # The stamp precedes the request's first byte at the server, by a loopback hand-over.
        assert 0 <= transit_ms < HAND_OVERS_MAX_MS, (record.request_id, transit_ms)
        # first_token - sent stays near the server's TTFT, however long the pool wait was.
        hand_overs_ms = client_ttft_ms - server_ttft_ms
        assert 0 <= hand_overs_ms < HAND_OVERS_MAX_MS, (record.request_id, hand_overs_ms)
        queued += record.sent_ns - record.scheduled_ns > 50 * MS
    # The situation under test really arose: at least the first requests of the streams beyond
    # the connections waited for one (as send lag; aiohttp's pool is not FIFO: a stream that
    # frees a connection takes it again for its next request, so those waits run long).
    assert queued >= STREAMS - CONNECTIONS


async def _send_big(base_url: str, body_bytes: int, n: int) -> list[RequestRecord]:
    spec = RequestSpec(item_id="big", prompt="x" * body_bytes, max_tokens=TOKENS)
    async with OpenAIClient(base_url=base_url, model="llmbench-sim", connection_limit=1) as client:
        await client.open_connections(1)
        return [
            await client.send(spec, SendContext(f"big-{k}", "t", 0, scheduled_ns=0))
            for k in range(n)
        ]


@pytest.mark.slow
def test_a_1_mib_body_is_stamped_before_its_first_byte_and_timed_from_it(
    start_sim: StartSim,
) -> None:
    # Image payloads will be this big: far over what one socket write takes (aiohttp stamps,
    # then hands headers + body to the transport in one write, which queues the rest and sends
    # it as the socket drains). One connection, so each request follows the last one's body.
    base_url = start_sim(ttft_ms=TTFT_MS, itl_ms=ITL_MS)
    # Just under 1 MiB of JSON: over 2**20 bytes aiohttp warns (ResourceWarning) that a raw
    # bytes body that large may block the event loop (docs/metrics.md).
    records = asyncio.run(_send_big(base_url, 1024 * 1024 - 1024, 6))
    for record in records:
        assert record.ok, record.error
        assert record.first_token_ns is not None
        truth = sim_log(base_url, record.request_id)
        # The server's clock for this request starts at its first byte, which the stamp
        # precedes (the simulator once took a late read of the previous body for it: −35 ms)...
        assert 0 <= truth["received_ns"] - record.sent_ns < HAND_OVERS_MAX_MS * MS
        # ...and its last byte came in later: that upload time is inside TTFT, not send lag.
        assert truth["received_ns"] <= truth["body_ns"] <= truth["chunk_emit_ns"][0]
        assert truth["chunk_emit_ns"][0] - truth["received_ns"] >= TTFT_MS * MS
        server_ttft_ns = truth["chunk_emit_ns"][0] - truth["received_ns"]
        hand_overs_ms = (record.first_token_ns - record.sent_ns - server_ttft_ns) / MS
        assert 0 <= hand_overs_ms < HAND_OVERS_MAX_MS
