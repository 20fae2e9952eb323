"""Builders of hand-made RequestRecords for the metrics tests (small integer ns timestamps)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from itertools import count
from typing import Any

import pytest

from llmbench.records import RequestRecord, Status

MS = 1_000_000  # ns per ms


@pytest.fixture
def make_record() -> Callable[..., RequestRecord]:
    """`make_record(offsets_ms=[...], tokens=[...], **fields)`: an OK record sent at 1_000 ns."""
    ids = count()

    def make(
        *,
        offsets_ms: Sequence[float] = (),
        tokens: Sequence[int] | None = None,
        **fields: Any,
    ) -> RequestRecord:
        offsets = [round(o * MS) for o in offsets_ms]
        n = next(ids)
        base: dict[str, Any] = {
            "request_id": f"r{n}",
            "target_id": "t",
            "item_id": f"i{n}",
            "worker_id": 0,
            "status": Status.OK,
            "scheduled_ns": 1_000,
            "sent_ns": 1_000,
            "chunk_offsets_ns": array("q", offsets),
            "chunk_tokens": array("I", [1] * len(offsets) if tokens is None else tokens),
            "chunk_channels": array("B", [0] * len(offsets)),
        }
        base.update(fields)
        return RequestRecord(**base)

    return make
