"""SSEDecoder: each rule of the WHATWG event stream format, and chunking never changing results."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.clients.sse import SSEDecoder, SSEEvent


def decode(*reads: bytes) -> tuple[list[SSEEvent], bool]:
    decoder = SSEDecoder()
    events = [e for r in reads for e in decoder.feed(r)]
    events += decoder.finish()
    return events, decoder.had_partial_event


def datas(*reads: bytes) -> list[str]:
    return [e.data for e in decode(*reads)[0]]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = b"data: a" + eol + eol + b"data: b" + eol + eol
    assert datas(stream) == ["a", "b"]


def test_crlf_split_between_reads_is_one_line_end() -> None:
    # "\r" ends one read, "\n" starts the next: one CRLF, not CR plus a blank line.
    assert datas(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]
    assert datas(b"data: a\r", b"\n", b"\r\n") == ["a"]


def test_cr_then_blank_cr_dispatches() -> None:
    assert datas(b"data: a\r", b"\r") == ["a"]


def test_multiline_data_joined_with_lf() -> None:
    assert datas(b"data: one\ndata: two\ndata:three\n\n") == ["one\ntwo\nthree"]


def test_only_one_space_after_colon_is_stripped() -> None:
    assert datas(b"data:  two spaces\n\ndata:none\n\n") == [" two spaces", "none"]


def test_comments_and_keepalives_ignored() -> None:
    assert datas(b": keep-alive\n\n:\ndata: x\n: mid-event comment\n\n") == ["x"]


def test_field_without_colon() -> None:
    # "data" alone appends an empty line; two of them make "\n".
    assert datas(b"data\n\n") == [""]
    assert datas(b"data\ndata\n\n") == ["\n"]
    assert datas(b"event\ndata: x\n\n") == ["x"]


def test_bom_stripped_at_stream_start_only() -> None:
    bom = b"\xef\xbb\xbf"
    assert datas(bom + b"data: a\n\n") == ["a"]
    assert datas(bom[:1], bom[1:2], bom[2:] + b"data: a\n\n") == ["a"]
    # A BOM later in the stream is part of a line: here it makes an unknown field name.
    assert datas(b"data: a\n\n" + bom + b"data: b\n\n") == ["a"]


def test_multibyte_utf8_split_across_reads() -> None:
    stream = "data: héllo wörld 你好 🎉\n\n".encode()
    for cut in range(len(stream) + 1):
        assert datas(stream[:cut], stream[cut:]) == ["héllo wörld 你好 🎉"]


def test_event_split_at_every_byte() -> None:
    stream = b'event: delta\nid: 7\ndata: {"a": 1}\r\n\r\ndata: x\r\rdata: y\n\n'
    whole = decode(stream)
    assert whole[0] == [
        SSEEvent('{"a": 1}', "delta", "7"),
        SSEEvent("x", None, "7"),
        SSEEvent("y", None, "7"),
    ]
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == whole


def test_blank_events_not_dispatched_and_reset_type() -> None:
    events, _ = decode(b"event: ping\n\n\n\ndata: x\n\n")
    assert events == [SSEEvent("x", None, None)]


def test_event_type_and_id() -> None:
    events, _ = decode(b"event: add\nid: 1\ndata: a\n\nid\ndata: b\n\nid: x\x00y\ndata: c\n\n")
    # The id persists; an empty id resets it; an id containing NUL is ignored.
    assert events == [SSEEvent("a", "add", "1"), SSEEvent("b", None, ""), SSEEvent("c", None, "")]


def test_unknown_fields_and_retry_ignored() -> None:
    assert datas(b"retry: 100\nfoo: bar\ndata: x\n\n") == ["x"]


def test_unterminated_event_discarded_and_flagged() -> None:
    assert decode(b"data: a\n\ndata: b\n") == ([SSEEvent("a")], True)
    assert decode(b"data: a\n\ndata: b") == ([SSEEvent("a")], True)
    assert decode(b"data: a\n\n") == ([SSEEvent("a")], False)
    assert decode(b"data: a\n\n: keep-alive") == ([SSEEvent("a")], False)


def test_invalid_utf8_replaced() -> None:
    assert datas(b"data: \xff\n\n") == ["\ufffd"]


# --- property: any split of any valid stream decodes like the whole stream -------------------

_line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_event = st.tuples(
    st.lists(_line_text, min_size=1, max_size=3),  # data lines
    st.none() | _line_text.filter(bool),  # event type
    st.none()
    | st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=6),  # id
    st.booleans(),  # a comment before the event
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A stream with random line endings, and the events it must decode to."""
    out: list[bytes] = [b"\xef\xbb\xbf"] if draw(st.booleans()) else []
    expected: list[SSEEvent] = []
    last_id: str | None = None
    prev_eol = b""
    for data_lines, event, id_, comment in draw(st.lists(_event, max_size=6)):
        lines = [": note"] if comment else []
        lines += [f"event: {event}"] if event is not None else []
        lines += [f"id: {id_}"] if id_ is not None else []
        lines += [f"data: {d}" for d in data_lines] + [""]
        for line in lines:
            # After a CR, an empty line ending in LF would merge into one CRLF: avoid it.
            choices = (
                [b"\r", b"\r\n"] if (prev_eol == b"\r" and not line) else [b"\n", b"\r\n", b"\r"]
            )
            prev_eol = draw(st.sampled_from(choices))
            out.append(line.encode() + prev_eol)
        last_id = id_ if id_ is not None else last_id
        expected.append(SSEEvent("\n".join(data_lines), event, last_id))
    return b"".join(out), expected


@settings(max_examples=300, deadline=None)
@given(streams(), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_decodes_like_whole(
    stream: tuple[bytes, list[SSEEvent]], cuts: list[int]
) -> None:
    raw, expected = stream
    points = sorted({min(c, len(raw)) for c in cuts})
    reads = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert decode(raw) == (expected, False)
    assert decode(*reads) == (expected, False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_any_split_of_arbitrary_bytes_decodes_like_whole(raw: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(raw)) for c in cuts})
    reads = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert decode(*reads) == decode(raw)
