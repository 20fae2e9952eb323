"""An aiohttp app served on a loopback port from a background thread with its own event loop,
so a test server's timing does not depend on the client's loop (which `asyncio.run` starts and
stops inside each test)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web


class ThreadedApp:
    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, make_app: Callable[[], web.Application]) -> str:
        """Serves the app on 127.0.0.1 (ephemeral port); returns its `http://host:port`."""
        ready = threading.Event()
        url: list[str] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            url.append(loop.run_until_complete(self._setup(make_app())))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(5)
        return url[0]

    async def _setup(self, app: web.Application) -> str:
        self.runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        assert self._loop is not None
        assert self.runner is not None
        assert self._thread is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
