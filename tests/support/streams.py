"""Streamed chat answers as each serving engine writes them, for the compatibility matrix
(docs/compatibility.md). Each fixture is the bytes a server sends, with sleeps between writes,
and what a correct client measures from them.

Timing is fixed by the sleeps: the first token-bearing event comes `TTFT_S` after the
response starts, the first visible content (after any reasoning) `TTFO_S` after it. Role-only,
empty-content and usage-only chunks are sent at once, so a client that counted them as tokens
would measure a TTFT near 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TTFT_S = 0.04
TTFO_S = 0.08
ITL_S = 0.005

Piece = bytes | float  # bytes written, or seconds slept


@dataclass(frozen=True)
class Expect:
    ok: bool = True
    error_category: str | None = None
    chunks: int = 4  # token-bearing chunks
    reasoning_chunks: int = 0
    output_tokens: int | None = 4
    count_source: str = "usage"
    finish_reason: str | None = "length"
    no_done: bool = False
    ttfo: bool = True  # whether visible content arrives (TTFO defined)


@dataclass(frozen=True)
class StreamFixture:
    name: str
    server: str
    basis: str  # where the format comes from
    pieces: tuple[Piece, ...]
    expect: Expect = Expect()


def event(obj: dict[str, Any], *, data_prefix: bytes = b"data: ") -> bytes:
    return data_prefix + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1764633600,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def usage(completion: int = 4, prompt: int = 9) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def usage_chunk(completion: int = 4) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764633600,
            "model": "m", "choices": [], "usage": usage(completion)}  # fmt: skip


DONE = b"data: [DONE]\n\n"
WORDS = (" caf\u00e9", " \u65e5\u672c", " na\u00efve", " end")  # multi-byte UTF-8 in every word


def tokens(key: str = "content", role: bool = False, **extra: Any) -> list[Piece]:
    """Four token chunks ITL_S apart, the first after TTFT_S."""
    out: list[Piece] = [TTFT_S]
    for i, word in enumerate(WORDS):
        if i:
            out.append(ITL_S)
        delta = {"role": "assistant", key: word} if role else {key: word}
        out.append(event(chunk(delta, **extra)))
    return out


def reasoning_then_content(key: str) -> list[Piece]:
    """Two reasoning chunks from TTFT_S, then two content chunks from TTFO_S."""
    return [
        TTFT_S, event(chunk({key: " think"})), ITL_S, event(chunk({key: " more"})),
        TTFO_S - TTFT_S - ITL_S, event(chunk({"content": WORDS[0]})), ITL_S,
        event(chunk({"content": WORDS[1]})),
    ]  # fmt: skip


def with_role(piece: Piece) -> Piece:
    """Ollama's deltas: the role in each, and `content: ""` beside reasoning."""
    if isinstance(piece, float):
        return piece
    piece = piece.replace(b'{"reasoning"', b'{"content": "", "reasoning"')
    return piece.replace(b'"delta": {', b'"delta": {"role": "assistant", ')


ROLE = event(chunk({"role": "assistant", "content": ""}))
FINISH = event(chunk({}, "length"))
REASONING = Expect(chunks=4, reasoning_chunks=2)

FIXTURES = (
    StreamFixture(
        "vllm",
        "vLLM",
        "vllm/entrypoints/openai/serving_chat.py: role-only first chunk, usage in a chunk with "
        "empty choices after the finish (stream_options.include_usage), [DONE]",
        (ROLE, *tokens(), FINISH, event(usage_chunk()), DONE),
    ),
    StreamFixture(
        "vllm-reasoning",
        "vLLM",
        "vLLM reasoning parsers: `reasoning_content` deltas before the content",
        (ROLE, *reasoning_then_content("reasoning_content"), FINISH, event(usage_chunk()), DONE),
        REASONING,
    ),
    StreamFixture(
        "vllm-error",
        "vLLM",
        "an error object in a 200 stream, with an HTTP-like code (counted as that status)",
        (
            ROLE,
            *tokens()[:4],
            event(
                {"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}
            ),
            DONE,
        ),
        Expect(
            ok=False,
            error_category="http_5xx",
            chunks=2,
            output_tokens=2,
            count_source="chunks",
            finish_reason=None,
        ),
    ),
    StreamFixture(
        "sglang",
        "SGLang",
        "sglang/srt/entrypoints/openai/serving_chat.py: like vLLM; `reasoning_content` deltas",
        (ROLE, *reasoning_then_content("reasoning_content"), FINISH, event(usage_chunk()), DONE),
        REASONING,
    ),
    StreamFixture(
        "tgi",
        "TGI",
        "TGI Messages API: the role in every delta, usage in the last content chunk (the one "
        "with finish_reason), no role-only chunk, `data:` without a space",
        (
            *[
                p if isinstance(p, float) else p.replace(b"data: ", b"data:", 1)
                for p in tokens(role=True)[:-1]
            ],
            event(
                chunk({"role": "assistant", "content": WORDS[3]}, "length", usage=usage()),
                data_prefix=b"data:",
            ),
            DONE,
        ),
    ),
    StreamFixture(
        "llamacpp",
        "llama.cpp server",
        "tools/server: role-only first chunk (content null), empty-content chunks, a usage "
        "chunk with empty choices and `timings`, [DONE]",
        (
            event(chunk({"role": "assistant", "content": None})),
            *tokens(),
            event(chunk({"content": ""})),
            FINISH,
            event({**usage_chunk(), "timings": {"predicted_n": 4}}),
            DONE,
        ),
    ),
    StreamFixture(
        "transformers",
        "transformers serve",
        "observed (transformers 5.17 on an H200): role-only first chunk, finish_reason and "
        "usage in the last chunk, no [DONE]",
        (ROLE, *tokens(), event(chunk({}, "length", usage=usage()))),
        Expect(no_done=True),
    ),
    StreamFixture(
        "ollama",
        "Ollama (OpenAI endpoint)",
        "docs.ollama.com/api/openai-compatibility: role in every delta, `reasoning` deltas for "
        "thinking models, usage chunk with empty choices, [DONE]",
        (
            *[with_role(p) for p in reasoning_then_content("reasoning")],
            FINISH,
            event(usage_chunk()),
            DONE,
        ),
        REASONING,
    ),
    StreamFixture(
        "litellm",
        "LiteLLM proxy",
        "constructed from the SSE spec as proxies send it: keep-alive comment lines and an "
        "empty-content chunk between tokens, usage in the last content chunk",
        (
            b": keep-alive\n\n",
            ROLE,
            TTFT_S / 2,
            b": ping\n\n",
            *tokens()[:-1],
            event(chunk({"content": ""})),
            event(chunk({"content": WORDS[3]}, "length", usage=usage())),
            DONE,
        ),
    ),
    StreamFixture(
        "litellm-error",
        "LiteLLM proxy",
        "an error object mid-stream with a string code",
        (ROLE, *tokens()[:4], event({"error": {"message": "upstream timeout", "code": "504"}})),
        Expect(
            ok=False,
            error_category="http_5xx",
            chunks=2,
            output_tokens=2,
            count_source="chunks",
            finish_reason=None,
        ),
    ),
    StreamFixture(
        "openai",
        "OpenAI",
        "platform.openai.com streaming reference: role-only first chunk (with refusal null), "
        "finish chunk with empty delta, usage chunk with empty choices, [DONE]",
        (
            event(chunk({"role": "assistant", "content": "", "refusal": None})),
            *tokens(),
            FINISH,
            event(usage_chunk()),
            DONE,
        ),
    ),
    StreamFixture(
        "cut-before-finish",
        "any",
        "a clean close after the last token, before any finish_reason: a truncation",
        (ROLE, *tokens()),
        Expect(ok=False, error_category="protocol", count_source="chunks", finish_reason=None),
    ),
)


def crlf(pieces: tuple[Piece, ...]) -> tuple[Piece, ...]:
    """The same stream with CRLF line ends (sse-starlette's default)."""
    return tuple(p if isinstance(p, float) else p.replace(b"\n", b"\r\n") for p in pieces)


def split_utf8(pieces: tuple[Piece, ...]) -> tuple[Piece, ...]:
    """The same stream with every write that holds a multi-byte character cut inside it, the
    halves a moment apart, so they reach the client in separate reads."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, float):
            out.append(piece)
            continue
        at = next((i for i, b in enumerate(piece) if b >= 0xC0), None)  # a lead byte
        if at is None:
            out.append(piece)
        else:
            out += [piece[: at + 1], 0.002, piece[at + 1 :]]
    return tuple(out)
