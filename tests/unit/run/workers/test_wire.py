"""The worker → parent channel carries each record as its records.jsonl line and its column row:
over a real socket pair, the parent gets the exact bytes the one-process writer makes, and the
columns it builds from the rows give exactly the summary the records give."""

from __future__ import annotations

import asyncio
import json
import socket
from array import array

import numpy as np

from llmbench.metrics.columns import ColumnRow, RunColumns, column_row
from llmbench.metrics.summary import summarize_run, three_sigma
from llmbench.records import RequestRecord
from llmbench.run.workers.wire import Outbox, read_frame, read_record, record_message
from llmbench.store.results import record_line
from support.records import varied_records


def _with_long_gaps(record: RequestRecord) -> RequestRecord:
    """`record` with gaps beyond int32 (3 s, 9 s) and k-token chunks (per-token values kept)."""
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    offsets = array("q", [1, 3_000_000_001, 3_000_000_002, 12_000_000_000])
    return RequestRecord(**{**fields, "request_id": "long", "warmup": False,
                            "chunk_offsets_ns": offsets, "chunk_tokens": array("I", [1, 2, 1, 3]),
                            "chunk_channels": array("B", [0, 0, 1, 0])})  # fmt: skip


async def _through_a_socket(records: list[RequestRecord]) -> list[tuple[bytes, ColumnRow]]:
    """Sends every record as a worker does (batched frames), reads them as the parent does."""
    left, right = socket.socketpair()
    _, writer = await asyncio.open_connection(sock=left)
    reader, other = await asyncio.open_connection(sock=right)
    outbox = Outbox(writer)
    for record in records:
        outbox.later(*record_message(record_line(record), column_row(record)))
        outbox.now({"t": "sent", "id": "x"})  # messages without bytes in between
    outbox.flush()
    received: list[tuple[bytes, ColumnRow]] = []
    frames = 0
    while len(received) < len(records):
        messages, blob = await asyncio.wait_for(read_frame(reader), timeout=10)
        frames += 1
        at = 0
        for message in messages:
            if message["t"] == "rec":
                line, row, at = read_record(message, blob, at)
                received.append((line, row))
        assert at == len(blob)  # every byte of the blob belongs to one record
    assert frames > 1
    writer.close()
    other.close()
    return received


def test_lines_and_rows_arrive_exactly() -> None:
    records = varied_records(300, seed=7)
    ok = next(r for r in records if r.ok and len(r.chunk_offsets_ns) > 1)
    records.append(_with_long_gaps(ok))
    received = asyncio.run(_through_a_socket(records))

    assert [line for line, _ in received] == [record_line(r) for r in records]
    assert [row for _, row in received] == [column_row(r) for r in records]
    columns = RunColumns()
    for _, row in received:
        columns.append_row(row)
    expected = RunColumns.from_records(records)
    for got, want in zip(columns.pooled_itl_ns(), expected.pooled_itl_ns(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert 3_000_000_000 in columns.pooled_itl_ns()[0]
    assert json.dumps(summarize_run(columns, seed=3)) == json.dumps(summarize_run(records, seed=3))
    assert json.dumps(three_sigma(columns)) == json.dumps(three_sigma(records))
