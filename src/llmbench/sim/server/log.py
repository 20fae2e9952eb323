"""Emission log: what the simulator actually did for each request, keyed by request id.

Bounded (oldest evicted first) and appended to on the hot path with plain ints only, kept in
int64 arrays: the garbage collector neither tracks nor scans them (lists of 100k requests'
chunk times made its collections pause the server for ms). JSON-ready dicts only on request.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestLog:
    """One request as served; mutated while the request runs (single event loop, no locks)."""

    request_id: str
    endpoint: str
    received_ns: int
    stream: bool = False
    body_ns: int | None = None  # the request's body read in full (its last byte was in)
    engine_arrival_ns: int | None = None  # the twin's: the arrival its engine went by
    # When the engine could first schedule it (twin: engine arrival + request overhead; fixed
    # timing: received), first scheduled it (the start of its first prefill step; fixed timing:
    # received + a start-delay fault) and produced its first token (the end of that token's
    # step; fixed timing: the first token's deadline). None until known.
    queued_ns: int | None = None
    admitted_ns: int | None = None
    first_token_ns: int | None = None
    cached_tokens: int | None = None  # twin: prompt tokens its prefix cache gave at admission
    headers_ns: int | None = None
    chunk_deadline_ns: array[int] = field(default_factory=lambda: array("q"))
    chunk_emit_ns: array[int] = field(default_factory=lambda: array("q"))
    chunk_tokens: array[int] = field(default_factory=lambda: array("q"))
    done_ns: int | None = None
    prompt_tokens: int | None = None
    thinking_tokens: int = 0  # /v1/messages: the first tokens went out as a thinking block
    body_bytes: int | None = None  # the request body's size as received
    images: int = 0
    image_tokens: int = 0
    # reply agent: the index of the action token (its chunk holds the marker), else None
    action_token: int | None = None
    status: int | None = None
    fault: str | None = None
    # complete | error | cut (fault) | client_closed | in_progress
    outcome: str = "in_progress"

    def action_emit_ns(self) -> int | None:
        """When the chunk holding the action token went out (reply agent), else None."""
        if self.action_token is None:
            return None
        sent = 0
        for emit_ns, tokens in zip(self.chunk_emit_ns, self.chunk_tokens, strict=True):
            sent += tokens
            if sent > self.action_token:
                return int(emit_ns)
        return None

    def record_chunk(self, deadline_ns: int, emit_ns: int, tokens: int) -> None:
        self.chunk_deadline_ns.append(deadline_ns)
        self.chunk_emit_ns.append(emit_ns)
        self.chunk_tokens.append(tokens)

    @property
    def completion_tokens(self) -> int:
        """Tokens actually sent, so a cut or abandoned stream reports what got out."""
        return sum(self.chunk_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "stream": self.stream,
            "received_ns": self.received_ns,
            "body_ns": self.body_ns,
            "engine_arrival_ns": self.engine_arrival_ns,
            "queued_ns": self.queued_ns,
            "admitted_ns": self.admitted_ns,
            "first_token_ns": self.first_token_ns,
            "cached_tokens": self.cached_tokens,
            "headers_ns": self.headers_ns,
            "chunk_deadline_ns": self.chunk_deadline_ns.tolist(),
            "chunk_emit_ns": self.chunk_emit_ns.tolist(),
            "chunk_tokens": self.chunk_tokens.tolist(),
            "done_ns": self.done_ns,
            "prompt_tokens": self.prompt_tokens,
            "thinking_tokens": self.thinking_tokens,
            "body_bytes": self.body_bytes,
            "images": self.images,
            "image_tokens": self.image_tokens,
            "action_token": self.action_token,
            "action_emit_ns": self.action_emit_ns(),
            "completion_tokens": self.completion_tokens,
            "status": self.status,
            "fault": self.fault,
            "outcome": self.outcome,
        }


PHASE_FIELDS = (
    "request_id", "received_ns", "queued_ns", "admitted_ns", "first_token_ns", "done_ns",
    "prompt_tokens", "cached_tokens", "outcome",
)  # fmt: skip


class EmissionLog:
    """Request logs in arrival order; a reused request id replaces the older entry."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._entries: OrderedDict[str, RequestLog] = OrderedDict()

    def open(self, request_id: str, endpoint: str, received_ns: int) -> RequestLog:
        entry = RequestLog(request_id=request_id, endpoint=endpoint, received_ns=received_ns)
        self._entries.pop(request_id, None)
        self._entries[request_id] = entry
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return entry

    def get(self, request_id: str) -> RequestLog | None:
        return self._entries.get(request_id)

    def entries(self) -> list[RequestLog]:
        return list(self._entries.values())

    def phases(self) -> dict[str, Any]:
        """`GET /sim/phases`: per request, only the engine phases and their ends, as rows (a
        run's decomposition reads these; the full log carries every chunk)."""
        rows = [
            [e.request_id, e.received_ns, e.queued_ns, e.admitted_ns, e.first_token_ns,
             e.done_ns, e.prompt_tokens, e.cached_tokens, e.outcome]
            for e in self._entries.values()
        ]  # fmt: skip
        return {"fields": list(PHASE_FIELDS), "requests": rows}

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        return count

    def __len__(self) -> int:
        return len(self._entries)
