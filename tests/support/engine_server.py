"""An OpenAI-compatible loopback server (aiohttp, background thread) that behaves like a real
engine in the ways llmbench must cope with: streams without `[DONE]`, a model list that fails
and leaves its connection to die, request fields it refuses with 422, connections it closes.

It logs when it wrote each request's chunks (`time.monotonic_ns`, the client's clock too), by
the client's X-Request-Id, so tests compare what the client measured with what was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from support.threaded_app import ThreadedApp


@dataclass
class EngineBehaviour:
    ttft_s: float = 0.02
    itl_s: float = 0.005
    tokens: int = 8
    send_done: bool = True
    cut_before_finish: bool = False  # close cleanly after the last token, before finish_reason
    models_status: int = 200
    # After answering /v1/models with an error, close that connection when the next request
    # arrives on it, before answering (the server had closed it; the client learns late).
    poison_after_models: bool = False
    close_reused_connections: bool = False  # each connection serves one request, then dies
    refuse_fields: frozenset[str] = frozenset()  # 422 naming these when a body has them
    server_header: str = "uvicorn"


@dataclass
class EngineServer:
    behaviour: EngineBehaviour = field(default_factory=EngineBehaviour)
    url: str = ""
    writes_ns: dict[str, list[int]] = field(default_factory=dict)  # request id → write times
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    # Connections by their transport object, weakly: an id() is reused once a closed
    # connection's transport is freed, and a new connection then looked like a used one.
    _poisoned: weakref.WeakSet[asyncio.BaseTransport] = field(default_factory=weakref.WeakSet)
    _served: weakref.WeakSet[asyncio.BaseTransport] = field(default_factory=weakref.WeakSet)
    _serving: ThreadedApp = field(default_factory=ThreadedApp)

    async def _models(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        b = self.behaviour
        if b.models_status != 200:
            if b.poison_after_models and request.transport is not None:
                self._poisoned.add(request.transport)
            return web.json_response({"detail": "cache scan failed"}, status=b.models_status)
        return web.json_response({"data": [{"id": "m"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        transport = request.transport
        b = self.behaviour
        if transport is not None and (
            transport in self._poisoned
            or (b.close_reused_connections and transport in self._served)
        ):
            transport.close()  # before any response byte: the client sees a dead connection
            raise asyncio.CancelledError
        if transport is not None:
            self._served.add(transport)
        body = json.loads(await request.read())
        self.bodies.append(body)
        refused = sorted(b.refuse_fields & body.keys())
        if refused:
            return web.json_response(
                {"detail": f"Unexpected fields in the request: {set(refused)}"}, status=422
            )
        return await self._stream(request, body)

    async def _stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        b = self.behaviour
        resp = web.StreamResponse(headers={"Server": b.server_header})
        resp.content_type = "text/event-stream"
        await resp.prepare(request)
        writes = self.writes_ns.setdefault(request.headers.get("X-Request-Id", "?"), [])
        await self._send(resp, {"delta": {"role": "assistant", "content": ""}})
        await asyncio.sleep(b.ttft_s)
        for i in range(b.tokens):
            if i:
                await asyncio.sleep(b.itl_s)
            writes.append(time.monotonic_ns())  # before the write: a read cannot precede it
            await self._send(resp, {"delta": {"content": f" t{i}"}})
        if not b.cut_before_finish:
            usage = {
                "prompt_tokens": 4,
                "completion_tokens": b.tokens,
                "total_tokens": 4 + b.tokens,
            }
            await self._send(resp, {"delta": {}, "finish_reason": "length"}, usage)
            if b.send_done:
                await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    @staticmethod
    async def _send(
        resp: web.StreamResponse, choice: dict[str, Any], usage: dict[str, int] | None = None
    ) -> None:
        event: dict[str, Any] = {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, **choice}],
        }
        if usage is not None:
            event["usage"] = usage
        await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")

    def start(self) -> None:
        self.url = self._serving.start(self._app)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    def stop(self) -> None:
        self._serving.stop()


@contextmanager
def engine_server(**behaviour: Any) -> Iterator[EngineServer]:
    server = EngineServer(EngineBehaviour(**behaviour))
    server.start()
    try:
        yield server
    finally:
        server.stop()
