"""The event loop the engine runs on: uvloop when installed (lower per-event cost), else
asyncio's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name() -> str:
    factory = loop_factory()
    return "uvloop" if factory is not asyncio.new_event_loop else "asyncio"
