"""Value types that flow from the workload through the engine and clients into the store.

`RequestSpec` is what to send, `SendContext` how the engine sent it, `RequestRecord` what was
seen: int-nanosecond timestamps on the `time.monotonic_ns()` clock, shared by every process on a
host. Records are plain frozen dataclasses (hot path); they serialize to one JSON object each.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Channel(IntEnum):
    """Which part of a delta a token-bearing chunk carried (first non-empty of these, in order)."""

    CONTENT = 0
    REASONING = 1
    TOOL_CALL = 2


class CountSource(StrEnum):
    """Where `RequestRecord.output_tokens` came from, best first."""

    USAGE = "usage"  # the server's usage.completion_tokens
    TOKENIZER = "tokenizer"  # the client's tokenizer over the streamed text
    CHUNKS = "chunks"  # one per token-bearing chunk: a last resort, flagged in summaries


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"


class ErrorCategory(StrEnum):
    """Why a request failed. Every failed request has exactly one."""

    CONNECT = "connect"  # no connection (refused, DNS, TLS)
    TIMEOUT_BEFORE_FIRST_TOKEN = "timeout_before_first_token"
    TIMEOUT_MID_STREAM = "timeout_mid_stream"
    HTTP_4XX = "http_4xx"  # 4xx other than 429 (401, 404, 422, ...)
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    # malformed SSE/JSON, stream cut before its finish_reason, wrong content type
    PROTOCOL = "protocol"
    CANCELLED = "cancelled"  # stopped by the user (Ctrl-C) or the end of the run
    WORKER_LOST = "worker_lost"  # in flight in a worker process that died (killed, crashed)


@dataclass(frozen=True, slots=True)
class RequestError:
    category: ErrorCategory
    message: str  # already redacted: never contains a secret
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request of a workload: identical bytes for every target.

    `messages` is used by chat endpoints; when it is None they send `prompt` as one user message.
    `input_tokens` is the planned prompt length (the workload's own count), not a measurement.
    """

    item_id: str
    prompt: str
    max_tokens: int
    input_tokens: int | None = None
    messages: tuple[dict[str, Any], ...] | None = None
    # Where the request belongs in an agent workload: a session (or agent-loop task) and its turn
    # (step) index from 0, or a DAG task and its step id. None for independent requests.
    session_id: str | None = None
    turn: int | None = None
    task_id: str | None = None
    step_id: str | None = None
    temperature: float | None = None  # sent when set (an agent loop's steps); else the server's


def request_id(group: int, index: int) -> str:
    """The id of the `index`-th request of an id `group` (0: one process or one shared schedule;
    k + 1: worker k's own closed loop), unique within a run.

    UUID-shaped because it is sent as X-Request-Id, and some servers refuse any other shape
    (llama-cpp-python's answers HTTP 400); the group and the index are its last 12 hex digits.
    """
    return f"00000000-0000-4000-8000-{group:04x}{index:08x}"


@dataclass(frozen=True, slots=True)
class SendContext:
    """How the engine sends a request: identity and the planned send time."""

    request_id: str
    target_id: str
    worker_id: int
    scheduled_ns: int
    warmup: bool = False


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Everything observed about one request.

    Timestamps are absolute `monotonic_ns`; chunk arrivals are stored compactly as offsets from
    `sent_ns`, one entry per token-bearing chunk (role-only, empty, keep-alive and usage-only
    chunks are not token-bearing), with the tokens the client counted in it and its channel.
    """

    request_id: str
    target_id: str
    item_id: str
    worker_id: int
    status: Status
    scheduled_ns: int
    sent_ns: int
    session_id: str | None = None
    turn: int | None = None
    task_id: str | None = None
    step_id: str | None = None
    warmup: bool = False
    headers_ns: int | None = None
    first_token_ns: int | None = None
    first_content_ns: int | None = None
    end_ns: int | None = None
    chunk_offsets_ns: array[int] = field(default_factory=lambda: array("q"))
    chunk_tokens: array[int] = field(default_factory=lambda: array("I"))
    chunk_channels: array[int] = field(default_factory=lambda: array("B"))
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    output_tokens_source: CountSource | None = None
    usage_output_tokens: int | None = None
    tokenizer_output_tokens: int | None = None
    requested_output_tokens: int | None = None
    finish_reason: str | None = None
    http_status: int | None = None
    error: RequestError | None = None
    # --retry-429: attempts made (earlier ones all ended in HTTP 429), the time spent waiting
    # between them, and when the first attempt was sent; timings above are the last attempt's.
    attempts: int = 1
    retry_wait_ns: int = 0
    first_sent_ns: int | None = None
    # The stream ended cleanly after its finish_reason (or a usage-only last chunk) without
    # `data: [DONE]` (transformers serve does this): complete, and noted.
    no_done: bool = False
    # The first attempt went out on a pooled connection the server had already closed (no
    # response byte came back); the request was sent again once on a fresh connection, and
    # `first_sent_ns` is when the first attempt went out. Timings are the second attempt's.
    reconnected: bool = False
    # Prompt tokens the server wrote to its prompt cache (Anthropic cache_creation_input_tokens;
    # reads are `cached_tokens`); None where the protocol does not say.
    cache_write_tokens: int | None = None
    # The request body's size in bytes as sent (images make it large), and its image parts.
    payload_bytes: int | None = None
    images: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; arrays become lists, enums their values, None stays null."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, array):
                value = value.tolist()
            elif isinstance(value, RequestError):
                value = {
                    "category": value.category.value,
                    "message": value.message,
                    "http_status": value.http_status,
                }
            elif isinstance(value, StrEnum):
                value = value.value
            out[name] = value
        return out

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> RequestRecord:
        """Inverse of `to_json_dict`; unknown keys are ignored (newer writers may add fields)."""
        kwargs = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        kwargs["status"] = Status(kwargs["status"])
        for name, typecode in (
            ("chunk_offsets_ns", "q"),
            ("chunk_tokens", "I"),
            ("chunk_channels", "B"),
        ):
            kwargs[name] = array(typecode, kwargs.get(name) or ())
        if kwargs.get("output_tokens_source") is not None:
            kwargs["output_tokens_source"] = CountSource(kwargs["output_tokens_source"])
        if kwargs.get("error") is not None:
            err = kwargs["error"]
            kwargs["error"] = RequestError(
                ErrorCategory(err["category"]), err["message"], err.get("http_status")
            )
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Reply:
    """A record with the reply's text, for workloads whose next request depends on it
    (sessions, agent loops, DAG steps). `chunk_texts` is aligned with the record's
    `chunk_offsets_ns`: the text of each token-bearing chunk. The text is not stored."""

    record: RequestRecord
    chunk_texts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.chunk_texts)
