"""The Anthropic Messages wire format (`POST /v1/messages`) as the simulator speaks it: request
validation, the event stream (message_start, content blocks, message_delta, message_stop; an
optional thinking block first) and error bodies. The same twin and timing as the chat endpoint.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from llmbench.sim.server.images import ImageRule
from llmbench.sim.server.protocol import (
    ApiError,
    GenerationRequest,
    Kind,
    ResponseEncoder,
    _chat_prompt,
    _check_model,
    _max_tokens,
    _optional_bool,
    parse_request,
    token_text,
)
from llmbench.sim.server.protocol import error_body as openai_error_body

MESSAGES_PATH = "/v1/messages"

# Anthropic's error types by HTTP status (its errors page); the simulator's refusals use them.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_STOP_REASON = "max_tokens"  # the simulator always generates max_tokens


def error_body(status: int, message: str) -> bytes:
    """`{"type": "error", "error": {"type", "message"}}`, as the Messages API answers."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def parse_generation(
    raw: bytes, kind: Kind, model: str, max_tokens_limit: int, image_rule: ImageRule | None = None
) -> GenerationRequest:
    """A chat, completions or Messages body, validated by its endpoint's rules."""
    if kind == "messages":
        return parse_messages_request(raw, model, max_tokens_limit)
    return parse_request(raw, kind, model, max_tokens_limit, image_rule)


def response_encoder(gen: GenerationRequest, model: str) -> ResponseEncoder:
    """The encoder of `gen`'s endpoint, with a fresh response id."""
    if gen.kind == "messages":
        return MessagesEncoder("msg_" + uuid.uuid4().hex[:24], model, gen)
    prefix = "chatcmpl-" if gen.kind == "chat" else "cmpl-"
    return ResponseEncoder(gen.kind, prefix + uuid.uuid4().hex[:24], int(time.time()), model)


def presented_key(path: str, headers: Mapping[str, str]) -> str:
    """The caller's key as `Bearer <key>`: Messages send it in `x-api-key`, others as
    `Authorization: Bearer <key>`."""
    if path == MESSAGES_PATH:
        return "Bearer " + headers.get("x-api-key", "")
    return headers.get("Authorization", "")


def refusal_body(path: str, error: ApiError) -> bytes:
    """A refused request's body, in the format of the endpoint asked."""
    return error_body(error.status, error.message) if path == MESSAGES_PATH else error.body()


def unauthorized_body(path: str) -> bytes:
    """A 401's body, in the format of the endpoint asked."""
    if path == MESSAGES_PATH:
        return error_body(401, "invalid x-api-key")
    message = "invalid or missing API key (expected 'Authorization: Bearer <key>')"
    return openai_error_body(message, "invalid_request_error", code="invalid_api_key")


def parse_messages_request(raw: bytes, model: str, max_tokens_limit: int) -> GenerationRequest:
    """Validate a Messages body; `ApiError` on anything wrong. `thinking: {"type": "enabled",
    "budget_tokens": N}` makes the first min(N, max_tokens - 1) tokens a thinking block (the
    real API's floor of 1,024 budget tokens is not enforced: short simulated runs)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    _check_model(body, model)
    if body.get("max_tokens") is None:
        raise ApiError(400, "max_tokens: Field required", param="max_tokens")
    words = _system_words(body.get("system")) + _chat_prompt(body, ImageRule()).words
    max_tokens = _max_tokens(body, max_tokens_limit)
    stream = _optional_bool(body, "stream")
    thinking = _thinking_tokens(body.get("thinking"), max_tokens)
    return GenerationRequest(
        "messages", stream, True, len(words), max_tokens, tuple(words), thinking_tokens=thinking
    )


def _system_words(system: object) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return system.split()
    if isinstance(system, list):
        return [w for part in system if isinstance(part, dict) for w in _text(part).split()]
    raise ApiError(400, "'system' must be a string or an array of text blocks", param="system")


def _text(part: dict[str, Any]) -> str:
    text = part.get("text")
    return text if isinstance(text, str) else ""


def _thinking_tokens(thinking: object, max_tokens: int) -> int:
    if thinking is None:
        return 0
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
        raise ApiError(400, "'thinking' must be {type: enabled|disabled, ...}", param="thinking")
    if thinking["type"] == "disabled":
        return 0
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ApiError(400, "'thinking.budget_tokens' must be a positive integer", param="thinking")
    return min(int(budget), max_tokens - 1)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (name.encode(), json.dumps(data).encode())


class MessagesEncoder(ResponseEncoder):
    """Bytes of one Messages response, in the chat encoder's place. Stateful: it counts the
    tokens written so far, to end the thinking block and open the text block at token
    `thinking_tokens` (each simulated token is one space-led word: a chunk's tokens are its
    spaces)."""

    def __init__(self, message_id: str, model: str, gen: GenerationRequest) -> None:
        # no super().__init__: nothing of the chat format is used
        self._id = message_id
        self._model = model
        self._prompt_tokens = gen.prompt_tokens
        self._thinking = gen.thinking_tokens
        self._written = 0
        self._texts = None  # never scripted: agent replies are the chat face's

    def _usage(self, output_tokens: int, cached: int | None) -> dict[str, Any]:
        read = cached or 0
        return {
            "input_tokens": self._prompt_tokens - read,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": read,
            "output_tokens": output_tokens,
        }

    def role_event(self) -> bytes:
        """message_start (the prefix cache is known only once the twin schedules the request:
        its read count comes in message_delta, whose usage is cumulative), then the first
        block's start."""
        message: dict[str, Any] = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {**self._usage(1, None), "input_tokens": self._prompt_tokens},
        }  # fmt: skip
        first = "thinking" if self._thinking else "text"
        return _event("message_start", {"type": "message_start", "message": message}) + _start(
            0, first
        )

    def token_event(self, text: bytes, last: bool) -> bytes:
        count = text.count(b" ") or 1
        start, self._written = self._written, self._written + count
        if start >= self._thinking:
            return _delta(int(self._thinking > 0), "text_delta", "text", text)
        if start + count <= self._thinking:
            out = _delta(0, "thinking_delta", "thinking", text)
            if start + count == self._thinking:
                out += _stop(0) + _start(1, "text")
            return out
        cut = _nth_space(text, self._thinking - start)  # a chunk across the boundary
        return (
            _delta(0, "thinking_delta", "thinking", text[:cut]) + _stop(0) + _start(1, "text")
            + _delta(1, "text_delta", "text", text[cut:])
        )  # fmt: skip

    def chunked_token_event(self, text: bytes, last: bool) -> bytes:
        data = self.token_event(text, last)
        return b"%x\r\n%b\r\n" % (len(data), data)

    def tail(self, gen: GenerationRequest, cached_tokens: int | None) -> bytes:
        delta = {"stop_reason": _STOP_REASON, "stop_sequence": None}
        usage = self._usage(gen.max_tokens, cached_tokens)
        return (
            _stop(int(self._thinking > 0))
            + _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            + _event("message_stop", {"type": "message_stop"})
        )

    def error_event(self) -> bytes:
        error = {"type": "overloaded_error", "message": "Overloaded (simulated fault)"}
        return _event("error", {"type": "error", "error": error})

    def usage_event(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
    ) -> bytes:
        return b""  # usage travels in message_delta (`tail`)

    def body(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
    ) -> bytes:
        cached = cached_tokens
        thinking = min(self._thinking, completion_tokens)
        content: list[dict[str, Any]] = []
        if thinking:
            words = token_text(0, thinking).decode("ascii")
            content.append({"type": "thinking", "thinking": words, "signature": ""})
        text = token_text(thinking, completion_tokens - thinking).decode("ascii")
        content.append({"type": "text", "text": text})
        message = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": content, "stop_reason": _STOP_REASON, "stop_sequence": None,
            "usage": self._usage(completion_tokens, cached),
        }  # fmt: skip
        return json.dumps(message).encode()


def _start(index: int, kind: str) -> bytes:
    block = {"type": kind, kind: ""}
    if kind == "thinking":
        block["signature"] = ""
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", data)


def _stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _delta(index: int, kind: str, field: str, text: bytes) -> bytes:
    # Simulated words are plain ASCII: no JSON escaping needed, as in the chat encoder.
    head = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,' % index
    return head + b'"delta":{"type":"%b","%b":"%b"}}\n\n' % (kind.encode(), field.encode(), text)


def _nth_space(text: bytes, n: int) -> int:
    """The offset of the n-th space (n >= 1): where token n of `text` begins."""
    offset = -1
    for _ in range(n + 1):
        offset = text.index(b" ", offset + 1)
    return offset
