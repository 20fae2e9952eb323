"""Client test fixtures: a canned HTTP server on a loopback port (aiohttp, background thread).

Each test routes paths to `Reply`s: byte parts written with sleeps between them, so the client
sees real reads at controlled times. The thread keeps the server's timing independent of the
client's event loop, which `asyncio.run` starts and stops inside each test.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

from support.threaded_app import ThreadedApp


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
    _serving: ThreadedApp = field(default_factory=ThreadedApp)

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
        self.url = self._serving.start(self._app)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._stamp)
        return app

    def connections(self) -> int:
        """Connections open on the server side now (accepted, not yet closed)."""
        runner = self._serving.runner
        assert runner is not None
        assert runner.server is not None
        return len(runner.server.connections)

    def stop(self) -> None:
        self._serving.stop()


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
