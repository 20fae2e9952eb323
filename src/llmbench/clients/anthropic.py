"""The Anthropic Messages client: `POST /v1/messages`, streamed (SSE events message_start,
content_block_start / _delta / _stop, message_delta, message_stop, ping, error) or not.

The OpenAI client's machinery (timing of every read, retries, reconnects, error categories) with
this protocol's body, headers and events; token metrics defined exactly as for OpenAI: the first
token is any generated token (thinking included), the first content token the first visible
text (docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from time import monotonic_ns
from typing import Any

from yarl import URL

from llmbench.clients.http import (
    RequestFault,
    api_root,
    clip,
    json_dumps,
    json_loads,
    status_category,
)
from llmbench.clients.observation import Observation
from llmbench.clients.openai import OpenAIClient
from llmbench.clients.tokens import Tokenizer
from llmbench.records import Channel, ErrorCategory, RequestSpec

ANTHROPIC_VERSION = "2023-06-01"
_CONTENT = int(Channel.CONTENT)
_REASONING = int(Channel.REASONING)
_TOOL_CALL = int(Channel.TOOL_CALL)
# A content block's type → the channel its tokens count on, and the field holding its text.
_BLOCKS = {
    "text": (_CONTENT, "text"),
    "thinking": (_REASONING, "thinking"),
    "tool_use": (_TOOL_CALL, "name"),
    "server_tool_use": (_TOOL_CALL, "name"),
}
_DELTAS = {
    "text_delta": (_CONTENT, "text"),
    "thinking_delta": (_REASONING, "thinking"),
    "input_json_delta": (_TOOL_CALL, "partial_json"),
}  # signature_delta and citations_delta carry no generated text
# Anthropic's error types (its errors page) → the HTTP status they stand for.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicClient(OpenAIClient):
    """Sends `RequestSpec`s to one Messages endpoint; `async with AnthropicClient(...)`.

    The key goes in `x-api-key` (never in a record: error texts are redacted of it)."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        anthropic_version: str = ANTHROPIC_VERSION,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        stream: bool = True,
        request_timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        connection_limit: int = 0,
        tokenizer: Tokenizer | None = None,
        retry_429_attempts: int = 1,
        retry_429_max_wait_s: float = 30.0,
    ) -> None:
        super().__init__(
            base_url=base_url, model=model, stream=stream, request_timeout_s=request_timeout_s,
            connect_timeout_s=connect_timeout_s, connection_limit=connection_limit,
            tokenizer=tokenizer, retry_429_attempts=retry_429_attempts,
            retry_429_max_wait_s=retry_429_max_wait_s,
        )  # fmt: skip
        self._url = URL(api_root(base_url) + "/v1/messages")
        self._secrets = [api_key] if api_key else []
        headers = {"Content-Type": "application/json", "anthropic-version": anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        headers.update(extra_headers or {})
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        self._headers = headers
        self._fixed_body = {"stream": stream, **(extra_body or {})}

    def _body(self, spec: RequestSpec) -> bytes:
        messages = spec.messages or ({"role": "user", "content": spec.prompt},)
        system = [m["content"] for m in messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "model": self._model,
            "max_tokens": spec.max_tokens,
            "messages": [m for m in messages if m.get("role") != "system"],
        }
        if system:  # no system role in Messages: a top-level field
            body["system"] = "\n\n".join(str(s) for s in system)
        body.update(self._fixed_body)
        return json_dumps(body)

    def _observation(self, keep_text: bool) -> Observation:
        return MessagesObservation(self._tokenizer, monotonic_ns(), keep_text)


class MessagesObservation(Observation):
    """An `Observation` fed Messages events; the record it makes is the OpenAI one's.

    Usage: `input_tokens` in the record is the whole prompt (Anthropic's input_tokens counts
    only the uncached part: cache reads and writes are added), `cached_tokens` the cache reads,
    `cache_write_tokens` the cache writes. message_delta's usage is cumulative: it wins.
    """

    END_MARK = "message_stop"
    FINAL_MARK = "message_delta with a stop_reason"

    __slots__ = ("_uncached",)

    def __init__(self, tokenizer: Tokenizer | None, sent_ns: int, keep_text: bool = False) -> None:
        super().__init__(tokenizer, sent_ns, keep_text)
        self._uncached: int | None = None  # Anthropic's input_tokens: the uncached part

    def on_data(self, data: str, arrival_ns: int) -> None:
        try:
            obj = json_loads(data)
        except ValueError:
            raise RequestFault(
                ErrorCategory.PROTOCOL, f"malformed JSON in a data event: {clip(data)!r}"
            ) from None
        if not isinstance(obj, dict):
            raise RequestFault(
                ErrorCategory.PROTOCOL, f"data event is not a JSON object: {clip(data)!r}"
            )
        kind = obj.get("type")
        if kind == "ping":
            return
        self.last_event_ns = arrival_ns
        self.ended_final = False
        if kind == "content_block_delta":
            self._take_delta(obj.get("delta"), arrival_ns)
        elif kind == "content_block_start":
            self._take_block_start(obj, arrival_ns)
        elif kind == "message_start":
            message = obj.get("message")
            if isinstance(message, dict):
                self._take_messages_usage(message.get("usage"))
        elif kind == "message_delta":
            self._take_message_delta(obj)
        elif kind == "message_stop":
            self.end_ns = arrival_ns
            self.done = True
        elif kind == "error":
            raise messages_error_fault(obj.get("error"))
        # content_block_stop and event types added later carry nothing measured here

    def _take_block_start(self, obj: dict[str, Any], arrival_ns: int) -> None:
        block = obj.get("content_block")
        if not isinstance(block, dict):
            raise RequestFault(
                ErrorCategory.PROTOCOL, f"content_block_start without a block: {clip(str(obj))}"
            )
        known = _BLOCKS.get(str(block.get("type")))
        if known is None:  # redacted_thinking, tool results, ...: no generated text to count
            return
        channel, field = known
        text = block.get(field)
        if isinstance(text, str) and text:  # a tool's name, or text given at the start
            self.on_piece(channel, text, arrival_ns)

    def _take_delta(self, delta: Any, arrival_ns: int) -> None:
        if not isinstance(delta, dict):
            raise RequestFault(ErrorCategory.PROTOCOL, "content_block_delta without a delta")
        piece = _DELTAS.get(str(delta.get("type")))
        if piece is None:
            return
        channel, field = piece
        text = delta.get(field)
        if isinstance(text, str) and text:
            self.on_piece(channel, text, arrival_ns)

    def _take_message_delta(self, obj: dict[str, Any]) -> None:
        delta = obj.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason"):
            self.finish_reason = str(delta["stop_reason"])
            self.ended_final = True
        self._take_messages_usage(obj.get("usage"))

    def _take_messages_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        out = usage.get("output_tokens")
        if type(out) is int:
            self.usage_output_tokens = out
        values = [usage.get(k) for k in ("input_tokens", "cache_read_input_tokens")]
        uncached, read = (v if type(v) is int else None for v in values)
        write = usage.get("cache_creation_input_tokens")
        self._uncached = uncached if uncached is not None else self._uncached
        self.cached_tokens = read if read is not None else self.cached_tokens
        self.cache_write_tokens = write if type(write) is int else self.cache_write_tokens
        if self._uncached is not None:
            parts = (self._uncached, self.cached_tokens or 0, self.cache_write_tokens or 0)
            self.input_tokens = sum(parts)

    def on_body(self, body: bytes, arrival_ns: int) -> None:
        """A whole non-streaming Message: one chunk holding all its generated text."""
        try:
            obj = json_loads(body)
        except ValueError:
            text = clip(body.decode("utf-8", "replace"))
            raise RequestFault(ErrorCategory.PROTOCOL, f"response is not JSON: {text!r}") from None
        if isinstance(obj, dict) and obj.get("type") == "error":
            raise messages_error_fault(obj.get("error"))
        if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
            raise RequestFault(ErrorCategory.PROTOCOL, "response is not a Message object")
        texts: list[tuple[int, str]] = []
        for block in obj["content"]:
            known = _BLOCKS.get(str(block.get("type"))) if isinstance(block, dict) else None
            value = block.get(known[1]) if known is not None else None
            if known is not None and isinstance(value, str) and value:
                texts.append((known[0], value))
        if texts:  # the channel as OpenAI's: content if any, else reasoning, else a tool call
            channel = min(c for c, _ in texts)
            self.on_piece(channel, "".join(t for _, t in texts), arrival_ns)
        if obj.get("stop_reason"):
            self.finish_reason = str(obj["stop_reason"])
        self._take_messages_usage(obj.get("usage"))
        self.end_ns = arrival_ns
        self.done = True
        if self.chunk_tokens and self.usage_output_tokens is not None:
            self.chunk_tokens[0] = self.usage_output_tokens


def messages_error_fault(error: Any) -> RequestFault:
    """An `error` event (or error body) of the Messages API, categorized by the HTTP status
    its type stands for (overloaded_error: 529, a server failure)."""
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    status = _ERROR_STATUS.get(str(kind))
    what = f"error event in the stream ({kind}): {clip(str(message))}"
    if status is None:
        return RequestFault(ErrorCategory.PROTOCOL, what)
    return RequestFault(status_category(status), what, status)
