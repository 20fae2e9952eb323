"""Fuzz of the client's reading path: random bytes, split anywhere, through the SSE decoder and
the observation into a record. It never raises; every stream ends ok or as a categorized error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench.clients.http import RequestFault
from llmbench.clients.observation import Observation
from llmbench.clients.openai import _read_events
from llmbench.records import (
    ErrorCategory,
    RequestError,
    RequestRecord,
    RequestSpec,
    SendContext,
    Status,
)

SPEC = RequestSpec(item_id="i", prompt="p", max_tokens=4)
CTX = SendContext(request_id="r", target_id="t", worker_id=0, scheduled_ns=0)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of real streams, so random sequences reach past the first parse error.
FRAGMENTS = [
    b"data: ", b"data:", b"[DONE]", b"\n", b"\r\n", b"\r", b"\n\n", b": keep-alive\n\n",
    b'{"choices":[{"delta":{"content":"hi"}}]}', b'{"choices":[{"delta":{"role":"assistant"}}]}',
    b'{"choices":[],"usage":{"completion_tokens":3,"prompt_tokens":2}}',
    b'{"error":{"message":"boom","code":503}}', b'{"error":"x"}', b"{not json", b"[1,2]",
    b'{"choices":[{"text":"t","finish_reason":"length"}]}', b"event: x\n", b"id: 7\n",
    b"\xef\xbb\xbf", b"\xff\xfe", "é".encode(), b'{"choices":[{"delta":{"tool_calls":[{}]}}]}',
    b'{"choices":[{"delta":{"reasoning_content":"r"}}]}', b"null", b'"s"', b"\x00",
]  # fmt: skip
STREAMS = st.one_of(
    st.lists(st.binary(max_size=64), max_size=12),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(lambda parts: [b"".join(parts)]),
)


class _Content:
    """Stands in for aiohttp's StreamReader: hands out the given reads, then EOF."""

    def __init__(self, reads: Sequence[bytes]) -> None:
        self._reads = [r for r in reads if r]

    async def readany(self) -> bytes:
        return self._reads.pop(0) if self._reads else b""


def observe(reads: Sequence[bytes]) -> RequestRecord:
    obs = Observation(None, sent_ns=0)
    error = None
    try:
        asyncio.run(_read_events(_Content(reads), obs))  # type: ignore[arg-type]
    except RequestFault as fault:  # the only way the reading path may end a request early
        error = fault
    request_error = RequestError(error.category, error.message) if error else None
    return obs.record(SPEC, CTX, request_error)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@FUZZ
@given(STREAMS)
def test_random_streams_become_a_categorized_record(reads: list[bytes]) -> None:
    record = observe(reads)
    if record.status is Status.OK:
        assert record.error is None
    else:
        assert record.error is not None
        assert isinstance(record.error.category, ErrorCategory)
    assert len(record.chunk_offsets_ns) == len(record.chunk_tokens) == len(record.chunk_channels)
    RequestRecord.from_json_dict(record.to_json_dict())  # and it round-trips through the store


@FUZZ
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.lists(st.integers(0, 10**6)))
def test_how_a_stream_is_split_never_changes_the_outcome(
    parts: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(parts)
    whole, pieces = observe([data]), observe(split(data, cuts))
    assert (whole.status, whole.error and whole.error.category) == (
        pieces.status,
        pieces.error and pieces.error.category,
    )
    assert len(whole.chunk_offsets_ns) == len(pieces.chunk_offsets_ns)
    assert whole.usage_output_tokens == pieces.usage_output_tokens
