"""Runs the simulator's application on a socket: uvloop when available, until SIGINT or
SIGTERM, each connection's bytes stamped by its arrival clock (`arrival.py`).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web

from llmbench.sim.server.app import arrival_clock, build_app
from llmbench.sim.server.config import SimConfig

_SHUTDOWN_TIMEOUT_S = 1.0


def serve(
    host: str, port: int, config: SimConfig, on_listening: Callable[[str, int], None]
) -> None:
    """Serve until SIGINT/SIGTERM; `on_listening(host, bound_port)` once connections are accepted.

    Port 0 picks a free port. A host resolving to several addresses binds each; the first
    bound port is reported.
    """
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(host, port, config, on_listening))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve(
    host: str, port: int, config: SimConfig, on_listening: Callable[[str, int], None]
) -> None:
    runner = web.AppRunner(build_app(config), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not possible off the main thread (or on Windows): then only KeyboardInterrupt.
            with suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        assert runner.server is not None
        arrivals = arrival_clock(runner.app)
        server = await loop.create_server(
            arrivals.wrap(runner.server), host, port, backlog=1024, reuse_address=True
        )
        on_listening(host, int(server.sockets[0].getsockname()[1]))
        await stop.wait()
        server.close()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
