"""Fuzz of the client's reading path: random bytes, split anywhere, through the SSE decoder and
the observation into a record. It never raises; every stream ends ok or as a categorized error.
"""

from __future__ import annotations

import asyncio
import json
import re
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


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


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
PAYLOADS = [
    b'{"choices":[{"delta":{"content":"hi"}}]}', b'{"choices":[{"delta":{"role":"assistant"}}]}',
    b'{"choices":[],"usage":{"completion_tokens":3,"prompt_tokens":2}}', b"[DONE]",
    b'{"error":{"message":"boom","code":503}}', b'{"error":{"message":"slow","status":"429"}}',
    b'{"error":{"code":400}}', b'{"error":"x"}', b"{not json", b"[1,2]", b"",
]  # fmt: skip
# Whole events (a payload, a line end, a blank line), so that many streams end at [DONE] (ok)
# or at an error event, not only at the first parse error.
EVENTS = st.tuples(
    st.sampled_from([b"data: ", b"data:", b": keep-alive\n\ndata: "]),
    st.sampled_from(PAYLOADS),
    st.sampled_from([b"\n\n", b"\r\n\r\n", b"\r\r", b"\n"]),
).map(b"".join)
STREAMS = st.one_of(
    st.lists(st.binary(max_size=64), max_size=12),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(lambda parts: [b"".join(parts)]),
    st.tuples(st.lists(EVENTS, max_size=8), st.lists(st.integers(0, 10**6), max_size=6)).map(
        lambda events_cuts: split(b"".join(events_cuts[0]), events_cuts[1])
    ),
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


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _http_code(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if type(value) is int and 400 <= value <= 599 else None


def _event_outcome(data: str) -> ErrorCategory | bool | None:
    """What one data event does by the OpenAI streaming contract: True ends the stream ok
    ([DONE]), an error category ends it failed, None reads on."""
    if data == "[DONE]":
        return True
    try:
        obj = json.loads(data, parse_constant=_reject_constant)
    except ValueError:
        return ErrorCategory.PROTOCOL  # not JSON
    if not isinstance(obj, dict):
        return ErrorCategory.PROTOCOL
    error = obj.get("error")
    if not error:
        return None
    code = None
    if isinstance(error, dict):
        code = _http_code(error.get("code")) or _http_code(error.get("status"))
    if code is None:
        return ErrorCategory.PROTOCOL  # an error event without an HTTP-like code
    if code == 429:
        return ErrorCategory.HTTP_429
    return ErrorCategory.HTTP_5XX if code >= 500 else ErrorCategory.HTTP_4XX


def _final(data: str) -> bool | None:
    """Whether an event (read on, not failed) ends the answer: True for a choice with a
    finish_reason or a usage-only chunk (no choices), False for a choice without one, None for
    an event that says nothing about the answer."""
    obj = json.loads(data, parse_constant=_reject_constant)
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return bool(choices[0].get("finish_reason"))
    usage = obj.get("usage")
    return True if isinstance(usage, dict) and usage and not choices else None


def expected_outcome(stream: bytes) -> ErrorCategory | None:
    """The failure category (None: ok) of a whole stream, by a reference reading written from
    the WHATWG event-stream rules, apart from the code under test: decode as UTF-8 (replacing
    bad bytes), drop one leading BOM, split lines at CRLF, CR or LF, dispatch the data buffer at
    each blank line (when a data field was seen), discard an unterminated last event. A clean
    end without [DONE] is complete when the last event about the answer was final (its choice
    had a finish_reason, or it was a usage-only chunk): docs/reliability.md."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    *lines, unterminated = re.split("\r\n|\r|\n", text)
    buffer: list[str] | None = None
    event_named = False  # an `event:` field of the event being built
    final = False
    for line in lines:
        if not line:
            if buffer is not None:
                outcome = _event_outcome("\n".join(buffer))
                if outcome is not None:
                    return None if outcome is True else outcome  # type: ignore[return-value]
                ends = _final("\n".join(buffer))
                final = final if ends is None else ends
            buffer, event_named = None, False
            continue
        if line.startswith(":"):
            continue  # a comment
        name, _, value = line.partition(":")
        if name == "data":
            buffer = [*(buffer or []), value.removeprefix(" ")]
        elif name == "event":
            event_named = True
    # Closed before [DONE]: inside an event (fields read and no blank line, or a line cut off)
    # is a truncation; else complete when the last event about the answer was final.
    if buffer is not None or event_named or (unterminated and not unterminated.startswith(":")):
        return ErrorCategory.PROTOCOL
    return None if final else ErrorCategory.PROTOCOL


@FUZZ
@given(STREAMS)
def test_random_streams_become_a_categorized_record(reads: list[bytes]) -> None:
    record = observe(reads)
    expected = expected_outcome(b"".join(reads))
    assert record.status is (Status.OK if expected is None else Status.ERROR)
    assert (record.error and record.error.category) == expected
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
