"""Direct chunk writes (no await per token) under a client that stops reading: the stream
hands over to the awaiting aiohttp path where it stopped and every token still arrives, once,
in order. A twin stream whose client leaves mid-stream gives its engine slot back; an HTTP/1.0
(unchunked) response is never written directly. The server runs in-process on a real loopback
socket so the hand-over is observable.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from typing import Any

import pytest
from aiohttp import web

from llmbench.sim.server import emit
from llmbench.sim.server.app import _SIMULATOR, build_app
from llmbench.sim.server.config import SimConfig
from llmbench.sim.server.protocol import token_text
from llmbench.sim.twin.presets import builtin

TOKENS = 5000


def _read_slowly(port: int, pause_s: float) -> bytes:
    """A chat stream whose reader pauses before reading: the server's socket buffers fill."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    assert connection.sock is not None
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": TOKENS, "stream": True}
    connection.request("POST", "/v1/chat/completions", json.dumps(body), {"X-Request-Id": "slow"})
    time.sleep(pause_s)
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now read fast
    response = connection.getresponse()
    data = response.read()  # http.client undoes the chunked framing
    connection.close()
    return data


async def _serve_and_read(pause_s: float) -> tuple[bytes, dict[str, Any]]:
    runner = web.AppRunner(build_app(SimConfig(ttft_ms=1.0, itl_ms=0.02)))
    await runner.setup()
    listener = socket.create_server(("127.0.0.1", 0))
    # Accepted sockets inherit a fixed send buffer (no autotuning up to megabytes), so the
    # kernel holds little and the transport's own buffer fills while the reader pauses.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    site = web.SockSite(runner, listener)
    await site.start()
    try:
        port = listener.getsockname()[1]
        async with asyncio.timeout(60):
            data = await asyncio.to_thread(_read_slowly, port, pause_s)
        entry = runner.app[_SIMULATOR].log.get("slow")
        assert entry is not None
        return data, entry.to_dict()
    finally:
        await runner.cleanup()


def test_a_stalled_reader_gets_every_token_once_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    resumed_at: list[int] = []
    awaiting_path = emit.emit_chunks

    async def spy(*args: Any, **kwargs: Any) -> None:
        resumed_at.append(args[-1])
        await awaiting_path(*args, **kwargs)

    monkeypatch.setattr(emit, "emit_chunks", spy)
    data, entry = asyncio.run(_serve_and_read(pause_s=0.5))

    events = [e for e in data.decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    texts = [json.loads(e[len("data: ") :])["choices"][0]["delta"]["content"] for e in events[1:-1]]
    assert "".join(texts) == token_text(0, TOKENS).decode()
    assert len(texts) == TOKENS
    assert entry["outcome"] == "complete"
    assert entry["completion_tokens"] == TOKENS
    times = zip(entry["chunk_emit_ns"], entry["chunk_deadline_ns"], strict=True)
    assert all(emit_ns >= deadline_ns for emit_ns, deadline_ns in times)
    # It did hand over, part-way: direct writes first, then the awaiting path.
    assert len(resumed_at) == 1
    assert 0 < resumed_at[0] < TOKENS


def _raw_chat(version: str, max_tokens: int, request_id: str) -> bytes:
    """A streaming chat request as bytes, for a plain socket."""
    body = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens, "stream": True}
    ).encode()
    head = (
        f"POST /v1/chat/completions {version}\r\nHost: x\r\nX-Request-Id: {request_id}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _leave_after(port: int, events: int) -> None:
    """Reads the first `events` SSE events of a long twin stream, then drops the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_raw_chat("HTTP/1.1", 4000, "leaver"))
        seen = b""
        while seen.count(b"\n\n") < events:
            seen += sock.recv(65536)


async def _twin_stream_left_early() -> tuple[dict[str, Any], float]:
    config = SimConfig(twin=builtin("cloud-warm"))
    runner = web.AppRunner(build_app(config))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with asyncio.timeout(30):
            await asyncio.to_thread(_leave_after, port, 5)
            simulator = runner.app[_SIMULATOR]
            for _ in range(1000):  # the server notices at its next write
                entry = simulator.log.get("leaver")
                if entry is not None and entry.outcome != "in_progress":
                    break
                await asyncio.sleep(0.02)
        assert entry is not None
        assert simulator.twin is not None
        return entry.to_dict(), simulator.twin.metrics()["llmbench_sim_running"]
    finally:
        await runner.cleanup()


def test_a_twin_stream_whose_client_leaves_frees_its_engine_slot() -> None:
    entry, running = asyncio.run(_twin_stream_left_early())
    assert entry["outcome"] == "client_closed"
    assert 4 <= entry["completion_tokens"] < 4000
    assert running == 0


def _http10_stream(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_raw_chat("HTTP/1.0", 12, "old-http"))
        data = b""
        while chunk := sock.recv(65536):  # HTTP/1.0: the body ends when the server closes
            data += chunk
        return data


async def _serve_http10() -> bytes:
    runner = web.AppRunner(build_app(SimConfig(ttft_ms=1.0, itl_ms=1.0)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with asyncio.timeout(30):
            return await asyncio.to_thread(_http10_stream, runner.addresses[0][1])
    finally:
        await runner.cleanup()


def test_an_unchunked_http10_stream_takes_the_awaiting_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct: list[int] = []
    monkeypatch.setattr(emit.DirectEmitter, "emit", lambda *args: direct.append(1) or False)
    data = asyncio.run(_serve_http10())
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" not in head
    events = [e for e in body.decode().split("\n\n") if e]
    texts = [json.loads(e[len("data: ") :])["choices"][0]["delta"]["content"] for e in events[1:-1]]
    assert "".join(texts) == token_text(0, 12).decode()
    assert events[-1] == "data: [DONE]"
    assert direct == []
