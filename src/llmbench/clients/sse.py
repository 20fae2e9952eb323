"""An incremental Server-Sent Events decoder (WHATWG "event stream interpretation").

Fed raw bytes as they arrive, it returns the events each read completes. It splits lines with
bytes methods and decodes once per event (data) or field (event type, id): no per-byte loop.
"""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"
_DATA = b"data"
_EVENT = b"event"
_ID = b"id"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event.

    `event` is None for the default type ("message"); `id` is the stream's last event ID at
    dispatch time (it persists across events, as the spec says), None if none was ever set.
    """

    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Bytes in, events out; split reads anywhere (inside a line, a CRLF or a UTF-8 sequence).

    Lines end in LF, CRLF or CR. A line is buffered whole before it is parsed, and line ends are
    ASCII bytes that never occur inside a multi-byte UTF-8 sequence, so decoding complete lines is
    always safe.
    """

    __slots__ = ("_data", "_event", "_last_id", "_partial", "_pending", "_skip_lf", "_started")

    def __init__(self) -> None:
        # Pieces of an incomplete line (or, before the first line, of a possible BOM): a list,
        # so a long line arriving in many reads is joined once, not copied on every read.
        self._pending: list[bytes] = []
        self._data: list[bytes] = []  # data field values of the event being built
        self._event: bytes | None = None
        self._last_id: str | None = None
        self._skip_lf = False  # the previous read ended in CR: a leading LF belongs to it
        self._started = False  # the BOM check at stream start is done
        self._partial = False

    @property
    def had_partial_event(self) -> bool:
        """True after `finish()` if the stream ended inside an event (it was discarded)."""
        return self._partial

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Consumes one read; returns the events it completed, in order."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 0x0A:  # b"\n"
                data = data[1:]
        if not self._started:
            data = self._strip_bom(data)
        if b"\n" not in data and b"\r" not in data:
            if data:
                self._pending.append(data)  # the line goes on in a later read
            return []
        if self._pending:
            self._pending.append(data)
            data = b"".join(self._pending)
            self._pending = []
        lines = data.splitlines()  # bytes.splitlines splits on LF, CRLF and CR only
        last = data[-1]
        if last == 0x0D:  # b"\r": an LF starting the next read belongs to this line end
            self._skip_lf = True
        elif last != 0x0A:
            self._pending.append(lines.pop())
        return self._parse(lines)

    def finish(self) -> list[SSEEvent]:
        """Ends the stream. Per spec an unterminated event is discarded, so this returns [].

        Sets `had_partial_event` when the stream stopped inside an event: fields were read but
        no blank line followed, or a non-comment line was cut off.
        """
        cut_line = self._started and bool(self._pending) and not self._pending[0].startswith(b":")
        self._partial = bool(self._data) or self._event is not None or cut_line
        self._pending = []
        self._data = []
        self._event = None
        return []

    def _strip_bom(self, data: bytes) -> bytes:
        """Drops a UTF-8 BOM at stream start, even one split across reads."""
        if self._pending:
            data = b"".join([*self._pending, data])
            self._pending = []
        if len(data) < len(_BOM) and _BOM.startswith(data):
            if data:
                self._pending.append(data)  # too short to tell yet
            return b""
        self._started = True
        return data[len(_BOM) :] if data.startswith(_BOM) else data

    def _parse(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if line.startswith(b"data: "):  # the common case first: one test, one copy
                data.append(line[6:])
                continue
            if not line:
                if data:
                    events.append(self._dispatch(data))
                    data = self._data = []
                self._event = None
                continue
            colon = line.find(b":")
            if colon == 0:
                continue  # a comment, e.g. a keep-alive
            if colon < 0:
                name, value = line, b""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value.startswith(b" "):
                    value = value[1:]
            self._field(name, value, data)
        return events

    def _field(self, name: bytes, value: bytes, data: list[bytes]) -> None:
        if name == _DATA:
            data.append(value)
        elif name == _EVENT:
            self._event = value
        elif name == _ID and b"\x00" not in value:
            self._last_id = value.decode("utf-8", "replace")
        # "retry" and unknown fields are ignored: a client that does not reconnect has no use

    def _dispatch(self, data: list[bytes]) -> SSEEvent:
        text = (data[0] if len(data) == 1 else b"\n".join(data)).decode("utf-8", "replace")
        event = self._event.decode("utf-8", "replace") if self._event else None
        return SSEEvent(text, event, self._last_id)
