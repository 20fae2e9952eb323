"""What one request showed, accumulated as its response arrives, and the record it becomes.

Interprets OpenAI-format objects (stream chunks and whole responses): which choice carries
generated tokens and on which channel, the finish reason, the usage block, error events.
"""

from __future__ import annotations

from array import array
from typing import Any

from llmbench.clients.http import RequestFault, clip, json_loads, status_category
from llmbench.clients.tokens import Tokenizer
from llmbench.records import (
    Channel,
    CountSource,
    ErrorCategory,
    RequestError,
    RequestRecord,
    RequestSpec,
    SendContext,
    Status,
)

_CONTENT = int(Channel.CONTENT)
_REASONING = int(Channel.REASONING)
_TOOL_CALL = int(Channel.TOOL_CALL)


def image_count(spec: RequestSpec) -> int | None:
    """Image parts in a request's messages; None when it has none."""
    if spec.messages is None:
        return None
    count = 0
    for message in spec.messages:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return count or None


class Observation:
    """Timestamps, token-bearing chunks and usage of one request, filled in as bytes arrive.

    Per chunk it appends three ints to arrays; text is kept only when a tokenizer needs it or
    the caller asked for the reply (`keep_text`: agent workloads build the next prompt from it).
    """

    END_MARK = "[DONE]"  # what ends a complete stream, and what marks its last event
    FINAL_MARK = "finish_reason"

    __slots__ = (
        "cache_write_tokens",
        "cached_tokens",
        "chunk_channels",
        "chunk_offsets_ns",
        "chunk_tokens",
        "done",
        "end_ns",
        "ended_final",
        "finish_reason",
        "first_content_ns",
        "first_token_ns",
        "headers_ns",
        "http_status",
        "input_tokens",
        "last_event_ns",
        "no_done",
        "reused_connection",
        "sent_ns",
        "texts",
        "tokenizer",
        "usage_output_tokens",
    )

    def __init__(self, tokenizer: Tokenizer | None, sent_ns: int, keep_text: bool = False) -> None:
        self.tokenizer = tokenizer
        self.sent_ns = sent_ns
        self.headers_ns: int | None = None
        self.first_token_ns: int | None = None
        self.first_content_ns: int | None = None
        self.end_ns: int | None = None
        self.done = False  # `[DONE]` (or the whole non-streaming body) arrived
        # The last event seen carried a finish_reason or was a usage-only chunk: a clean end
        # of stream after it is a complete answer even without `[DONE]`.
        self.ended_final = False
        self.last_event_ns: int | None = None
        self.no_done = False
        self.reused_connection = False  # set by the session's trace: the pool reused it
        self.chunk_offsets_ns = array("q")
        self.chunk_tokens = array("I")
        self.chunk_channels = array("B")
        self.texts: list[str] | None = [] if tokenizer is not None or keep_text else None
        self.usage_output_tokens: int | None = None
        self.input_tokens: int | None = None
        self.cached_tokens: int | None = None
        self.cache_write_tokens: int | None = None  # prompt tokens written to a cache (Anthropic)
        self.finish_reason: str | None = None
        self.http_status: int | None = None

    def on_data(self, data: str, arrival_ns: int) -> None:
        """One SSE data event that arrived at `arrival_ns`; raises RequestFault if malformed."""
        if data == "[DONE]":
            self.end_ns = arrival_ns
            self.done = True
            return
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
        self.last_event_ns = arrival_ns
        self._take(obj, arrival_ns)

    def on_clean_eof(self, arrival_ns: int) -> bool:
        """The stream closed cleanly before `[DONE]`: True (and the request complete, noted
        `no_done`) when the last event was final; else the caller reports a truncation."""
        if not self.ended_final or self.last_event_ns is None:
            self.end_ns = arrival_ns
            return False
        self.end_ns = self.last_event_ns  # the server's last message, as `[DONE]` would be
        self.done = self.no_done = True
        return True

    def on_body(self, body: bytes, arrival_ns: int) -> None:
        """A whole non-streaming response, read completely at `arrival_ns`: one chunk."""
        try:
            obj = json_loads(body)
        except ValueError:
            text = clip(body.decode("utf-8", "replace"))
            raise RequestFault(ErrorCategory.PROTOCOL, f"response is not JSON: {text!r}") from None
        if not isinstance(obj, dict):
            raise RequestFault(ErrorCategory.PROTOCOL, "response is not a JSON object")
        self._take(obj, arrival_ns)
        self.end_ns = arrival_ns
        self.done = True
        if self.chunk_tokens and self.usage_output_tokens is not None:
            self.chunk_tokens[0] = self.usage_output_tokens  # the one chunk holds every token

    def _take(self, obj: dict[str, Any], arrival_ns: int) -> None:
        choices = obj.get("choices")
        if choices and isinstance(choices, list):
            choice = choices[0]
            if isinstance(choice, dict):
                self._take_choice(choice, arrival_ns)
                self.ended_final = bool(choice.get("finish_reason"))
        usage = obj.get("usage")
        if usage and isinstance(usage, dict):
            self._take_usage(usage)
            if not choices:
                self.ended_final = True  # a usage-only chunk comes after the last token
        error = obj.get("error")
        if error:
            raise _error_event_fault(error)

    def _take_choice(self, choice: dict[str, Any], arrival_ns: int) -> None:
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = str(reason)
        piece = _token_piece(choice)
        if piece is not None:
            self.on_piece(*piece, arrival_ns)

    def on_piece(self, channel: int, text: str, arrival_ns: int) -> None:
        """One token-bearing chunk on `channel` (the same accounting for every protocol)."""
        if self.first_token_ns is None:
            self.first_token_ns = arrival_ns
        if channel == _CONTENT and self.first_content_ns is None:
            self.first_content_ns = arrival_ns
        self.chunk_offsets_ns.append(arrival_ns - self.sent_ns)
        self.chunk_channels.append(channel)
        if self.texts is not None:
            self.texts.append(text)
        if self.tokenizer is None:
            self.chunk_tokens.append(1)
        else:
            self.chunk_tokens.append(self.tokenizer.count(text))

    def _take_usage(self, usage: dict[str, Any]) -> None:
        # Servers that send usage in every chunk send running totals: the last one wins.
        out = usage.get("completion_tokens")
        if type(out) is int:
            self.usage_output_tokens = out
        prompt = usage.get("prompt_tokens")
        if type(prompt) is int:
            self.input_tokens = prompt
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict):
            cached = details.get("cached_tokens")
            if type(cached) is int:
                self.cached_tokens = cached

    def record(
        self,
        spec: RequestSpec,
        ctx: SendContext,
        error: RequestError | None,
        payload_bytes: int | None = None,
    ) -> RequestRecord:
        """The finished record; counts are kept for failed requests too (what was received)."""
        tok_out = None
        if self.tokenizer is not None and self.texts is not None:
            tok_out = self.tokenizer.count("".join(self.texts))
        output, source = self._output_count(tok_out, error)
        return RequestRecord(
            request_id=ctx.request_id,
            target_id=ctx.target_id,
            item_id=spec.item_id,
            worker_id=ctx.worker_id,
            status=Status.OK if error is None else Status.ERROR,
            scheduled_ns=ctx.scheduled_ns,
            sent_ns=self.sent_ns,
            session_id=spec.session_id,
            turn=spec.turn,
            task_id=spec.task_id,
            step_id=spec.step_id,
            warmup=ctx.warmup,
            headers_ns=self.headers_ns,
            first_token_ns=self.first_token_ns,
            first_content_ns=self.first_content_ns,
            end_ns=self.end_ns,
            chunk_offsets_ns=self.chunk_offsets_ns,
            chunk_tokens=self.chunk_tokens,
            chunk_channels=self.chunk_channels,
            input_tokens=self.input_tokens if self.input_tokens is not None else spec.input_tokens,
            cached_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            output_tokens=output,
            output_tokens_source=source,
            usage_output_tokens=self.usage_output_tokens,
            tokenizer_output_tokens=tok_out,
            requested_output_tokens=spec.max_tokens,
            finish_reason=self.finish_reason,
            http_status=self.http_status,
            error=error,
            no_done=self.no_done,
            payload_bytes=payload_bytes,
            images=image_count(spec),
        )

    def _output_count(
        self, tok_out: int | None, error: RequestError | None
    ) -> tuple[int | None, CountSource | None]:
        if self.usage_output_tokens is not None:
            return self.usage_output_tokens, CountSource.USAGE
        if error is not None and not self.chunk_offsets_ns:
            return None, None  # nothing generated was seen: not applicable, not 0
        if tok_out is not None:
            return tok_out, CountSource.TOKENIZER
        return len(self.chunk_offsets_ns), CountSource.CHUNKS


def _token_piece(choice: dict[str, Any]) -> tuple[int, str] | None:
    """(channel, text) of a choice that carries generated tokens, else None.

    Streaming chat has `delta`, non-streaming chat `message`, completions `text`. The channel is
    the first non-empty of content, reasoning, tool call; the text is all of them, for counting.
    """
    delta = choice.get("delta")
    if delta is None:
        delta = choice.get("message")
        if delta is None:
            text = choice.get("text")
            return (_CONTENT, text) if text and isinstance(text, str) else None
    if not isinstance(delta, dict):
        return None
    content = _text(delta.get("content"))
    reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
    tools = delta.get("tool_calls")
    tool_text = _tool_text(tools) if tools else ""
    if not (reasoning or tool_text):
        return (_CONTENT, content) if content else None  # the common case: content only
    channel = _CONTENT if content else _REASONING if reasoning else _TOOL_CALL
    return channel, content + reasoning + tool_text


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _tool_text(tools: Any) -> str:
    """Function names and argument fragments of tool-call deltas; ids and types carry none."""
    if not isinstance(tools, list):
        return ""
    parts: list[str] = []
    for call in tools:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(_text(function.get("name")))
            parts.append(_text(function.get("arguments")))
    return "".join(parts)


def _error_event_fault(error: Any) -> RequestFault:
    """An `{"error": ...}` object inside a 200 response.

    If it carries an HTTP-like code (400–599, as vLLM's and OpenAI's do) it is classified like that
    status, so a server failure mid-stream counts as 5xx; otherwise it is a protocol error.
    """
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        code = _http_code(error.get("code")) or _http_code(error.get("status"))
    else:
        message, code = str(error), None
    if code is None:
        return RequestFault(ErrorCategory.PROTOCOL, f"error event in the stream: {clip(message)}")
    return RequestFault(
        status_category(code), f"error event in the stream (code {code}): {clip(message)}", code
    )


def _http_code(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if type(value) is int and 400 <= value <= 599:
        return value
    return None
