"""The emission log: bounded, replaces reused ids, and serialises to the documented shape.

The shape is what clients and tests read back from `/sim/log`.
"""

from __future__ import annotations

import pytest

from llmbench.sim.server.log import EmissionLog

_KEYS = {
    "request_id",
    "endpoint",
    "stream",
    "received_ns",
    "body_ns",
    "engine_arrival_ns",
    "queued_ns",
    "admitted_ns",
    "first_token_ns",
    "cached_tokens",
    "headers_ns",
    "chunk_deadline_ns",
    "chunk_emit_ns",
    "chunk_tokens",
    "done_ns",
    "prompt_tokens",
    "thinking_tokens",
    "body_bytes",
    "images",
    "image_tokens",
    "action_token",
    "action_emit_ns",
    "completion_tokens",
    "status",
    "fault",
    "outcome",
}


def test_entry_records_chunks_and_serialises() -> None:
    log = EmissionLog(10)
    entry = log.open("r1", "/v1/completions", 100)
    entry.record_chunk(deadline_ns=150, emit_ns=151, tokens=3)
    entry.record_chunk(deadline_ns=170, emit_ns=172, tokens=1)
    data = entry.to_dict()
    assert set(data) == _KEYS
    assert data["chunk_deadline_ns"] == [150, 170]
    assert data["chunk_emit_ns"] == [151, 172]
    assert data["chunk_tokens"] == [3, 1]
    assert data["completion_tokens"] == 4
    assert data["outcome"] == "in_progress"


def test_oldest_entries_are_evicted() -> None:
    log = EmissionLog(2)
    for i in range(3):
        log.open(f"r{i}", "/v1/completions", i)
    assert [e.request_id for e in log.entries()] == ["r1", "r2"]
    assert log.get("r0") is None


def test_a_reused_id_replaces_the_old_entry() -> None:
    log = EmissionLog(5)
    log.open("same", "/v1/completions", 1)
    log.open("other", "/v1/completions", 2)
    log.open("same", "/v1/chat/completions", 3)
    assert len(log) == 2
    entry = log.get("same")
    assert entry is not None
    assert entry.received_ns == 3
    assert [e.request_id for e in log.entries()] == ["other", "same"]


def test_clear_reports_how_many() -> None:
    log = EmissionLog(5)
    log.open("a", "/v1/completions", 1)
    assert log.clear() == 1
    assert log.entries() == []


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        EmissionLog(0)


def test_the_action_chunk_is_the_one_holding_the_action_token() -> None:
    entry = EmissionLog(10).open("r1", "/v1/chat/completions", 100)
    assert entry.action_emit_ns() is None  # not an agent reply
    entry.action_token = 4  # tokens 0-2 in the first chunk, 3-5 in the second
    entry.record_chunk(deadline_ns=150, emit_ns=151, tokens=3)
    assert entry.action_emit_ns() is None  # not out yet
    entry.record_chunk(deadline_ns=170, emit_ns=172, tokens=3)
    assert entry.action_emit_ns() == 172
    assert entry.to_dict()["action_emit_ns"] == 172
