"""`python -m llama_cpp.server`, unchanged, with a log of when it wrote each response chunk.

Run as `python traced_llamacpp.py TRACE_FILE [server arguments...]`. The server's ASGI app is
wrapped so that every response body message is timestamped (`time.monotonic_ns()`, the clock
llmbench reads) just before it is handed to the socket, and one JSON line per finished response
is appended to TRACE_FILE: request id (the X-Request-Id header), path, when the request reached
the app, and each body message's time and text. The truth a client's timings are checked
against: a chunk cannot arrive before the server wrote it.
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]


class ChunkTrace:
    """ASGI middleware: times each response body message of each HTTP request."""

    def __init__(self, app: App, path: Path) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry: dict[str, Any] = {
            "request_id": headers.get("x-request-id"),
            "path": scope["path"],
            "received_ns": time.monotonic_ns(),
            "chunks": [],
        }

        async def traced_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body:
                    entry["chunks"].append([time.monotonic_ns(), body.decode("utf-8", "replace")])
                await send(message)
                if not message.get("more_body", False):
                    with self.path.open("a") as out:
                        out.write(json.dumps(entry) + "\n")
                return
            await send(message)

        await self.app(scope, receive, traced_send)


def main() -> None:
    trace_path = Path(sys.argv[1])
    import llama_cpp.server.app as server_app

    create_app = server_app.create_app

    def traced_create_app(*args: Any, **kwargs: Any) -> ChunkTrace:
        return ChunkTrace(create_app(*args, **kwargs), trace_path)

    server_app.create_app = traced_create_app  # type: ignore[assignment]
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
