"""The OpenAI wire format as the simulator speaks it: request validation and response bytes.

Parsing turns a body into a `GenerationRequest` or raises `ApiError` (an OpenAI-style error
with its HTTP status); encoding pre-builds the constant parts so each chunk is a few joins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from llmbench.sim.server.images import ImageError, ImageRule, image_words
from llmbench.sim.twin.vocabulary import VOCABULARY

Kind = Literal["chat", "completions", "messages"]  # messages: Anthropic (messages.py)
DEFAULT_MAX_TOKENS = 16
DONE_EVENT = b"data: [DONE]\n\n"
MALFORMED_EVENT = b"data: {not json\n\n"
_WORDS = tuple(f" {word}".encode("ascii") for word in VOCABULARY)


class ApiError(Exception):
    """A request the simulator refuses, with the OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> bytes:
    error = {"message": message, "type": type_, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a valid completion request asks for, reduced to what shapes the response."""

    kind: Kind
    stream: bool
    include_usage: bool
    prompt_tokens: int
    max_tokens: int
    prompt_words: tuple[str, ...] = ()  # the prompt's tokens (whitespace words), in order
    thinking_tokens: int = 0  # messages: the first tokens form a thinking block
    images: int = 0  # image parts in the prompt (their tokens are in prompt_tokens)
    image_tokens: int = 0
    assistant_turns: int = 0  # assistant messages in the history (an agent's step index)


@dataclass(slots=True)
class _Prompt:
    """What a chat request's messages add up to."""

    words: list[str]
    images: int = 0
    image_tokens: int = 0
    assistant_turns: int = 0


def parse_request(
    raw: bytes,
    kind: Kind,
    model: str,
    max_tokens_limit: int,
    image_rule: ImageRule | None = None,
) -> GenerationRequest:
    """Validate a request body; raise `ApiError` (400, 404 or 422) on anything wrong. Image
    parts count `image_rule`'s tokens each (default `ImageRule()`)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
        raise ApiError(400, "request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    _check_model(body, model)
    prompt = (
        _chat_prompt(body, image_rule or ImageRule())
        if kind == "chat"
        else _Prompt(_prompt_words(body))
    )
    words = prompt.words
    max_tokens = _max_tokens(body, max_tokens_limit)
    n = body.get("n")
    if n is not None:
        if not _is_int(n):
            raise ApiError(400, "'n' must be an integer", param="n")
        if n != 1:
            raise ApiError(422, "only n=1 is supported", param="n")
    stream = _optional_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object", param="stream_options")
    include_usage = _optional_bool(options or {}, "include_usage")
    return GenerationRequest(
        kind, stream, include_usage, len(words), max_tokens, tuple(words),
        images=prompt.images, image_tokens=prompt.image_tokens,
        assistant_turns=prompt.assistant_turns,
    )  # fmt: skip


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"'{key}' must be a boolean", param=key)
    return value


def _check_model(body: dict[str, Any], model: str) -> None:
    requested = body.get("model")
    if requested is None:
        return
    if not isinstance(requested, str):
        raise ApiError(400, "'model' must be a string", param="model")
    if requested != model:
        message = f"The model '{requested}' does not exist; this server serves '{model}'"
        raise ApiError(404, message, param="model", code="model_not_found")


def _chat_prompt(body: dict[str, Any], rule: ImageRule) -> _Prompt:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array", param="messages")
    prompt = _Prompt([])
    for message in messages:
        if not isinstance(message, dict):
            raise ApiError(400, "each message must be an object", param="messages")
        prompt.assistant_turns += message.get("role") == "assistant"
        _add_content(prompt, message.get("content"), rule)
    return prompt


def _add_content(prompt: _Prompt, content: object, rule: ImageRule) -> None:
    if content is None:
        return
    if isinstance(content, str):
        prompt.words += content.split()
        return
    if not isinstance(content, list):
        raise ApiError(400, "message 'content' must be a string or an array", param="messages")
    for part in content:
        if not isinstance(part, dict):
            raise ApiError(400, "each content part must be an object", param="messages")
        if part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise ApiError(400, "a text part needs a string 'text'", param="messages")
            prompt.words += text.split()
        elif part.get("type") == "image_url":
            words = _image_part_words(part, rule)
            prompt.words += words
            prompt.images += 1
            prompt.image_tokens += len(words)


def _image_part_words(part: dict[str, Any], rule: ImageRule) -> list[str]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise ApiError(400, "an image_url part needs 'image_url': {'url': ...}", param="messages")
    try:
        return image_words(url, rule)
    except ImageError as exc:
        raise ApiError(400, str(exc), param="messages") from exc


def _prompt_words(body: dict[str, Any]) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt.split()
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return [word for p in prompt for word in p.split()]
    raise ApiError(400, "'prompt' must be a string or a non-empty array of strings", param="prompt")


def _max_tokens(body: dict[str, Any], limit: int) -> int:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(key)
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not _is_int(value):
        raise ApiError(400, f"'{key}' must be an integer", param=key)
    if not 1 <= value <= limit:
        raise ApiError(422, f"'{key}' must be between 1 and {limit}", param=key)
    return int(value)


def token_text(start: int, count: int) -> bytes:
    """The output tokens start..start+count-1, each ' word'."""
    if count == 1:
        return _WORDS[start % len(_WORDS)]
    return b"".join(_WORDS[i % len(_WORDS)] for i in range(start, start + count))


def usage(
    prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
) -> dict[str, Any]:
    """OpenAI usage; `prompt_tokens_details.cached_tokens` only when the twin reports it."""
    out: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return out


class ResponseEncoder:
    """Bytes of one response; the per-chunk path is a join of pre-encoded parts."""

    def __init__(self, kind: Kind, response_id: str, created: int, model: str) -> None:
        self.kind = kind
        self._object = "chat.completion" if kind == "chat" else "text_completion"
        chunk_object = "chat.completion.chunk" if kind == "chat" else "text_completion"
        head = {"id": response_id, "object": chunk_object, "created": created, "model": model}
        # '{"id":...,"model":"m"' — left open so each event appends its own fields.
        self._head = b"data: " + json.dumps(head, separators=(",", ":")).encode()[:-1]
        self._meta = {"id": response_id, "object": self._object, "created": created, "model": model}
        if kind == "chat":
            self._open = self._head + b',"choices":[{"index":0,"delta":{"content":"'
            close = b'"},"logprobs":null,"finish_reason":'
        else:
            self._open = self._head + b',"choices":[{"index":0,"text":"'
            close = b'","logprobs":null,"finish_reason":'
        self._close_more = close + b"null}]}\n\n"
        self._close_last = close + b'"length"}]}\n\n'
        self._texts: tuple[str, ...] | None = None  # a scripted reply (`reply: agent`)

    def script(self, texts: tuple[str, ...]) -> None:
        """Token i of this response is `texts[i]` instead of a vocabulary word; it stops."""
        self._texts = texts
        self._close_last = self._close_last.replace(b'"length"', b'"stop"')

    def tokens(self, start: int, count: int) -> bytes:
        """Tokens start..start+count-1 as JSON string content."""
        if self._texts is None:
            return token_text(start, count)
        return json.dumps("".join(self._texts[start : start + count]))[1:-1].encode()

    def role_event(self) -> bytes:
        choice = b'{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
        return self._head + b',"choices":[' + choice + b'"finish_reason":null}]}\n\n'

    def token_event(self, text: bytes, last: bool) -> bytes:
        return b"".join((self._open, text, self._close_last if last else self._close_more))

    def chunked_token_event(self, text: bytes, last: bool) -> bytes:
        """`token_event` in HTTP/1.1 chunked framing (size, CRLF, data, CRLF), built at once."""
        close = self._close_last if last else self._close_more
        size = len(self._open) + len(text) + len(close)
        return b"%x\r\n%b%b%b\r\n" % (size, self._open, text, close)

    def usage_event(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
    ) -> bytes:
        body = json.dumps(
            usage(prompt_tokens, completion_tokens, cached_tokens), separators=(",", ":")
        )
        return self._head + b',"choices":[],"usage":' + body.encode() + b"}\n\n"

    def tail(self, gen: GenerationRequest, cached_tokens: int | None) -> bytes:
        """What a stream ends with: usage when asked for, then `[DONE]`."""
        if gen.include_usage:
            return self.usage_event(gen.prompt_tokens, gen.max_tokens, cached_tokens) + DONE_EVENT
        return DONE_EVENT

    def error_event(self) -> bytes:
        """An error object inside the stream, as vLLM sends one when generation fails."""
        error = {"message": "simulated error event", "type": "server_error", "code": 500}
        return b"data: " + json.dumps({"error": error}).encode() + b"\n\n" + DONE_EVENT

    def body(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
    ) -> bytes:
        """The non-streaming response holding all tokens."""
        if self._texts is None:
            text = token_text(0, completion_tokens).decode("ascii")
        else:
            text = "".join(self._texts[:completion_tokens])
        choice: dict[str, Any] = {"index": 0}
        if self.kind == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        choice.update(logprobs=None, finish_reason="length" if self._texts is None else "stop")
        response = {**self._meta, "choices": [choice]}
        response["usage"] = usage(prompt_tokens, completion_tokens, cached_tokens)
        return json.dumps(response).encode()
