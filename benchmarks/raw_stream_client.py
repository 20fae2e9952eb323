"""A client that costs almost nothing per token event: N keep-alive sockets that each send
streaming chat requests one after another and only drain the bytes until the chunked
terminator. No parsing, no records: what the served twin sustains is then the server's number.
With a read interval each connection sleeps between reads, so one read takes several events
(the kernel's socket buffer holds them; the server's write times, which are measured, do not
change).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

_END = b"\r\n0\r\n\r\n"  # last chunk of an HTTP/1.1 chunked body (aiohttp streams chunked)
_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class RawLoad:
    """What a raw run did: bytes drained, wall time of the load and the client's CPU in it."""

    responses: int
    bytes_read: int
    wall_s: float
    cpu_s: float


def request_bytes(base_url: str, output_tokens: int, prompt_words: int = 128) -> bytes:
    """One streaming chat request, built once and sent as-is on every connection."""
    host = urlsplit(base_url).netloc
    body = json.dumps(
        {
            "model": "llmbench-sim",
            "messages": [{"role": "user", "content": " ".join(["w"] * prompt_words)}],
            "max_tokens": output_tokens,
            "stream": True,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    host: str, port: int, request: bytes, count: int, read_interval_s: float, start_s: float
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    await asyncio.sleep(start_s)
    done = total = 0
    try:
        for _ in range(count):
            writer.write(request)
            tail = b""
            while not tail.endswith(_END):
                data = await asyncio.wait_for(reader.read(1 << 16), _READ_TIMEOUT_S)
                if not data:
                    raise ConnectionError(f"server closed after {done} responses")
                total += len(data)
                tail = (tail + data)[-len(_END) :]
                if read_interval_s > 0.0:
                    # Not reading meanwhile takes the socket out of the loop's epoll set, so
                    # the server's send does not wake this process for every event: on
                    # loopback that wake-up is charged to the server's CPU.
                    writer.transport.pause_reading()
                    await asyncio.sleep(read_interval_s)
                    writer.transport.resume_reading()
            done += 1
    finally:
        writer.close()
    return done, total


async def drain(
    base_url: str,
    concurrency: int,
    requests: int,
    output_tokens: int,
    read_interval_s: float = 0.0,
    stagger_s: float = 0.0,
) -> RawLoad:
    """`requests` streaming requests over `concurrency` connections (closed loop); connection
    i sends its first request `i / concurrency · stagger_s` after the first connection."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = request_bytes(base_url, output_tokens)
    counts = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                _connection(host, port, request, n, read_interval_s, i * stagger_s / concurrency)
            )
            for i, n in enumerate(counts)
        ]
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    results = [t.result() for t in tasks]
    return RawLoad(sum(r[0] for r in results), sum(r[1] for r in results), wall_s, cpu_s)
