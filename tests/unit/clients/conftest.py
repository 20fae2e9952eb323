"""Client test fixtures: a canned HTTP server on a loopback port (aiohttp, background thread).

Each test routes paths to `Reply`s: byte parts written with sleeps between them, so the client
sees real reads at controlled times. The thread keeps the server's timing independent of the
client's event loop, which `asyncio.run` starts and stops inside each test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict


@dataclass
class Reply:
    """What the server answers: `parts` are bytes to write or float seconds to sleep."""

    status: int = 200
    content_type: str = "text/event-stream"
    parts: Sequence[bytes | float] = ()
    cut: bool = False  # drop the connection after the parts, in the middle of the body


@dataclass
class Seen:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    peer: Any = None  # the client's (host, port): which connection carried the request


@dataclass
class CannedServer:
    routes: dict[str, Reply] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    url: str = ""
    server_header: str | None = None  # sent as `Server` on every response when set
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def route(self, path: str, *parts: bytes | float, **reply: Any) -> None:
        """Answers `path` with `parts` (bytes written, floats slept); `reply` sets Reply fields."""
        self.routes[path] = Reply(parts=parts, **reply)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            Seen(request.method, request.path, CIMultiDict(request.headers), body, peer)
        )
        reply = self.routes.get(request.path)
        if reply is None:
            return web.Response(status=404, text="no such route")
        resp = web.StreamResponse(status=reply.status)
        resp.content_type = reply.content_type
        await resp.prepare(request)
        for part in reply.parts:
            if isinstance(part, float):
                await asyncio.sleep(part)
            else:
                await resp.write(part)
        if reply.cut:
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError  # end the handler without finishing the body
        await resp.write_eof()
        return resp

    async def _stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        if self.server_header is not None:
            response.headers["Server"] = self.server_header

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._setup())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(5)

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._stamp)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def connections(self) -> int:
        """Connections open on the server side now (accepted, not yet closed)."""
        assert self._runner is not None
        assert self._runner.server is not None
        return len(self._runner.server.connections)

    def stop(self) -> None:
        assert self._loop is not None
        assert self._runner is not None
        assert self._thread is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def server() -> Iterator[CannedServer]:
    srv = CannedServer()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
