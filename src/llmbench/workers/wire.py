"""The parent ↔ worker channel: one socket pair per worker, asyncio streams on both ends, frames
of a 4-byte length and an orjson list of messages (`{"t": kind, ...}`). Writes never block the
event loop; a closed peer reads as EOF.
"""

from __future__ import annotations

import asyncio
import os
import socket
from multiprocessing.connection import Connection
from typing import Any

import orjson

_HEADER_BYTES = 4
MAX_BATCH = 64  # messages per frame before a flush that does not wait for the loop to turn

Message = dict[str, Any]


async def open_channel(conn: Connection) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over a `multiprocessing.Pipe()` end (a socket on Unix); the Connection is closed."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    return await asyncio.open_connection(sock=sock)


async def read_frame(reader: asyncio.StreamReader) -> list[Message]:
    """The next frame's messages; raises `asyncio.IncompleteReadError` at EOF."""
    header = await reader.readexactly(_HEADER_BYTES)
    payload = await reader.readexactly(int.from_bytes(header, "big"))
    messages: list[Message] = orjson.loads(payload)
    return messages


def write_frame(writer: asyncio.StreamWriter, messages: list[Message]) -> None:
    if writer.is_closing():
        return  # the peer is gone; the reader side notices and ends the run or the worker
    payload = orjson.dumps(messages)
    writer.write(len(payload).to_bytes(_HEADER_BYTES, "big") + payload)


class Outbox:
    """Batches messages: `later` ones go out once the loop turns (one write for every record
    that finished in that turn), `now` ones at once, with everything queued before them."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._batch: list[Message] = []
        self._flush_pending = False

    def now(self, message: Message) -> None:
        self._batch.append(message)
        self.flush()

    def later(self, message: Message) -> None:
        self._batch.append(message)
        if len(self._batch) >= MAX_BATCH:
            self.flush()
        elif not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if self._batch:
            batch, self._batch = self._batch, []
            write_frame(self.writer, batch)
