"""The parent ↔ worker channel: one socket pair per worker, asyncio streams on both ends. A frame
is two 4-byte lengths, an orjson list of messages (`{"t": kind, ...}`) and a blob of raw bytes
that `rec` messages point into (each record's records.jsonl line and its column row's arrays, so
the parent passes them on without decoding). Writes never block the loop; a closed peer is EOF.
"""

from __future__ import annotations

import asyncio
import os
import socket
from multiprocessing.connection import Connection
from typing import Any

import orjson

from llmbench.metrics.columns import ColumnRow
from llmbench.records import CountSource

_LENGTH_BYTES = 4
MAX_BATCH = 64  # messages per frame before a flush that does not wait for the loop to turn

Message = dict[str, Any]
Frame = tuple[list[Message], bytes]  # the messages and the blob their `rec` ones point into


async def open_channel(conn: Connection) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over a `multiprocessing.Pipe()` end (a socket on Unix); the Connection is closed."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    return await asyncio.open_connection(sock=sock)


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; raises `asyncio.IncompleteReadError` at EOF."""
    header = await reader.readexactly(2 * _LENGTH_BYTES)
    n_messages = int.from_bytes(header[:_LENGTH_BYTES], "big")
    n_blob = int.from_bytes(header[_LENGTH_BYTES:], "big")
    payload = await reader.readexactly(n_messages + n_blob)
    messages: list[Message] = orjson.loads(payload[:n_messages])
    return messages, payload[n_messages:]


def write_frame(writer: asyncio.StreamWriter, messages: list[Message], blob: bytes = b"") -> None:
    if writer.is_closing():
        return  # the peer is gone; the reader side notices and ends the run or the worker
    payload = orjson.dumps(messages)
    writer.write(
        len(payload).to_bytes(_LENGTH_BYTES, "big")
        + len(blob).to_bytes(_LENGTH_BYTES, "big")
        + payload
        + blob
    )


def record_message(line: bytes, row: ColumnRow) -> tuple[Message, bytes]:
    """A finished record as a `rec` message and its blob: the line, the row's gaps and values."""
    per_token = row.per_token
    message = {
        "t": "rec", "id": row.request_id, "warmup": row.warmup, "ok": row.ok, "ints": row.ints,
        "error": row.error_category, "http_status": row.http_status, "attempts": row.attempts,
        "no_done": row.no_done, "reconnected": row.reconnected, "out": row.output_tokens,
        "source": row.output_tokens_source,
        "usage": row.usage_output_tokens, "tokenizer": row.tokenizer_output_tokens,
        "requested": row.requested_output_tokens, "long_gaps": row.long_gaps,
        "n": (len(line), len(row.gaps), -1 if per_token is None else len(per_token)),
    }  # fmt: skip
    return message, line + row.gaps + (per_token or b"")


def read_record(message: Message, blob: bytes, at: int) -> tuple[bytes, ColumnRow, int]:
    """Inverse of `record_message` for a message whose blob starts at `at` in the frame's blob:
    (the line, the row, where the next message's blob starts)."""
    n_line, n_gaps, n_per_token = message["n"]
    gaps_at = at + n_line
    values_at = gaps_at + n_gaps
    source = message["source"]
    row = ColumnRow(
        message["id"], message["warmup"], message["ok"], tuple(message["ints"]),
        error_category=message["error"], http_status=message["http_status"],
        attempts=message["attempts"], no_done=message["no_done"],
        reconnected=message["reconnected"], output_tokens=message["out"],
        output_tokens_source=None if source is None else CountSource(source),
        usage_output_tokens=message["usage"], tokenizer_output_tokens=message["tokenizer"],
        requested_output_tokens=message["requested"], gaps=blob[gaps_at:values_at],
        long_gaps=tuple(message["long_gaps"]),
        per_token=None if n_per_token < 0 else blob[values_at : values_at + n_per_token],
    )  # fmt: skip
    return blob[at:gaps_at], row, values_at + max(n_per_token, 0)


class Outbox:
    """Batches messages: `later` ones go out once the loop turns (one write for every record
    that finished in that turn), `now` ones at once, with everything queued before them."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._batch: list[Message] = []
        self._blobs: list[bytes] = []
        self._flush_pending = False

    def now(self, message: Message) -> None:
        self._batch.append(message)
        self.flush()

    def later(self, message: Message, blob: bytes = b"") -> None:
        self._batch.append(message)
        self._blobs.append(blob)
        if len(self._batch) >= MAX_BATCH:
            self.flush()
        elif not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if self._batch:
            batch, self._batch = self._batch, []
            blobs, self._blobs = self._blobs, []
            write_frame(self.writer, batch, b"".join(blobs))
