"""Fault injection: chosen per request by the `X-Sim-Fault` header, or drawn at seeded rates.

Header values are listed in `FAULT_FORMS`; `FaultPolicy` draws one per request from configured
rates (`--fault-rate 429:0.1,500:0.05`) so a served run injects a reproducible mix.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from llmbench.sim.server.protocol import DONE_EVENT, GenerationRequest, ResponseEncoder

FAULT_HEADER = "X-Sim-Fault"

STATUS_FAULTS = {"http_429": 429, "http_500": 500, "http_503": 503, "echo_auth": 500}
_FLAG_FAULTS = (
    "malformed_sse", "error_event", "wrong_content_type", "duplicate_done", "missing_done",
)  # fmt: skip
FAULT_FORMS = (
    *STATUS_FAULTS,
    "http_429:RETRY_AFTER_S",
    *_FLAG_FAULTS,
    "cut_after:N",
    "stall_ms:MS",
    "slow_headers:MS",
    "stall_after:N:MS",
    "huge_chunk:BYTES",
)
_SHORT_NAMES = {"429": "http_429", "500": "http_500", "503": "http_503"}
_MAX_MS = 3_600_000
_MAX_CHUNKS = 10**9
_MAX_HUGE_BYTES = 64 * 1024 * 1024
_NS_PER_MS = 1_000_000


class FaultError(ValueError):
    """The header (or a configured rate) names no known fault; the server answers 400."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault; `name` is the header value as logged in the emission log."""

    name: str
    status: int | None = None
    retry_after_s: int = 1  # the Retry-After header of a 429
    echo_auth: bool = False  # the error body quotes the Authorization header (redaction tests)
    malformed_sse: bool = False
    error_event: bool = False  # an error event in the stream after two token chunks
    wrong_content_type: bool = False
    cut_after_chunks: int | None = None
    stall_ns: int = 0  # before the first token (the whole schedule moves)
    headers_delay_ns: int = 0  # before the response headers (the whole schedule moves)
    stall_after_chunks: int | None = None  # after this many token chunks, pause ...
    stall_after_ns: int = 0  # ... this long (the rest of the schedule moves)
    duplicate_done: bool = False
    missing_done: bool = False  # the stream ends cleanly without `data: [DONE]`
    huge_chunk_bytes: int = 0  # the first token chunk's text padded to this many bytes

    @property
    def start_delay_ns(self) -> int:
        return self.stall_ns + self.headers_delay_ns


def parse_fault(value: str | None) -> Fault | None:
    """Parse the header value; None when absent or empty."""
    if value is None or not value.strip():
        return None
    name = value.strip()
    if name in STATUS_FAULTS:
        return Fault(name=name, status=STATUS_FAULTS[name], echo_auth=name == "echo_auth")
    if name in _FLAG_FAULTS:
        return Fault(name=name, **{name: True})
    kind, sep, arg = name.partition(":")
    if sep and kind in _WITH_ARGUMENT:
        return _WITH_ARGUMENT[kind](name, arg)
    raise FaultError(f"unknown {FAULT_HEADER} value; known: {', '.join(FAULT_FORMS)}")


def _count(arg: str, name: str, maximum: int) -> int:
    if not (arg.isascii() and arg.isdigit()) or int(arg) > maximum:
        raise FaultError(f"{FAULT_HEADER} {name.partition(':')[0]} needs an integer 0..{maximum}")
    return int(arg)


def _http_429(name: str, arg: str) -> Fault:
    return Fault(name=name, status=429, retry_after_s=_count(arg, name, 3600))


def _cut_after(name: str, arg: str) -> Fault:
    return Fault(name=name, cut_after_chunks=_count(arg, name, _MAX_CHUNKS))


def _stall_ms(name: str, arg: str) -> Fault:
    return Fault(name=name, stall_ns=_count(arg, name, _MAX_MS) * _NS_PER_MS)


def _slow_headers(name: str, arg: str) -> Fault:
    return Fault(name=name, headers_delay_ns=_count(arg, name, _MAX_MS) * _NS_PER_MS)


def _stall_after(name: str, arg: str) -> Fault:
    chunks, sep, ms = arg.partition(":")
    if not sep:
        raise FaultError(f"{FAULT_HEADER} stall_after needs N:MS, e.g. stall_after:3:500")
    return Fault(
        name=name,
        stall_after_chunks=_count(chunks, name, _MAX_CHUNKS),
        stall_after_ns=_count(ms, name, _MAX_MS) * _NS_PER_MS,
    )


def _huge_chunk(name: str, arg: str) -> Fault:
    return Fault(name=name, huge_chunk_bytes=_count(arg, name, _MAX_HUGE_BYTES))


_WITH_ARGUMENT = {
    "http_429": _http_429,
    "cut_after": _cut_after,
    "stall_ms": _stall_ms,
    "slow_headers": _slow_headers,
    "stall_after": _stall_after,
    "huge_chunk": _huge_chunk,
}


def parse_fault_rates(text: str) -> tuple[tuple[str, float], ...]:
    """`429:0.1,500:0.05,cut_after:3:0.02` → ((fault, rate), ...); raises FaultError.

    The rate is after the last colon; `429`, `500` and `503` are short for `http_<status>`.
    """
    rates: list[tuple[str, float]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        value, sep, rate_text = item.rpartition(":")
        try:
            rate = float(rate_text)
        except ValueError:
            rate = -1.0
        if not sep or not value:
            raise FaultError(f"{item!r} is not FAULT:RATE, e.g. 429:0.1")
        rates.append((_SHORT_NAMES.get(value, value), rate))
    FaultPolicy(rates, seed=0)  # validates names and rates
    return tuple(rates)


class FaultPolicy:
    """Draws at most one fault per request from configured rates (probabilities summing ≤ 1).

    The draw for request number `seq` depends only on (seed, seq), so a run is reproducible
    whatever order concurrent requests finish in.
    """

    def __init__(self, rates: Iterable[Sequence[object]], seed: int) -> None:
        self._seed = seed
        self._faults: list[tuple[float, Fault]] = []  # (cumulative rate, fault)
        total = 0.0
        for name, rate in rates:
            fault = parse_fault(str(name))
            if fault is None or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
                raise FaultError(f"fault rate {name}:{rate} needs a known fault and a rate 0..1")
            total += float(rate)
            self._faults.append((total, fault))
        if total > 1.0 + 1e-9:
            raise FaultError(f"fault rates add up to {total:g}, more than 1")

    def __bool__(self) -> bool:
        return bool(self._faults)

    def pick(self, seq: int) -> Fault | None:
        if not self._faults:
            return None
        draw = random.Random(f"{self._seed}:{seq}").random()
        for cumulative, fault in self._faults:
            if draw < cumulative:
                return fault
        return None


def delayed_after(
    plan: Iterator[tuple[int, int]], fault: Fault | None
) -> Iterator[tuple[int, int]]:
    """The chunk plan with every deadline after chunk `stall_after_chunks` moved later."""
    if fault is None or fault.stall_after_chunks is None:
        return plan
    n, delay_ns = fault.stall_after_chunks, fault.stall_after_ns
    return ((t + delay_ns if i >= n else t, k) for i, (t, k) in enumerate(plan))


def done_tail(tail: bytes, fault: Fault | None) -> bytes:
    """The stream's last write, with `[DONE]` doubled or dropped when the fault says so."""
    if fault is not None and fault.duplicate_done:
        return tail + DONE_EVENT
    if fault is not None and fault.missing_done:
        return tail.removesuffix(DONE_EVENT)
    return tail


class HugeChunkEncoder(ResponseEncoder):
    """Pads the first token event's text with `x` (one whitespace token) to `pad_bytes`.

    Wraps an encoder rather than re-deriving one, so it follows whatever the server built.
    """

    def __init__(self, base: ResponseEncoder, pad_bytes: int) -> None:  # no super(): delegates
        self._base = base
        self._pad: bytes | None = b"x" * pad_bytes

    def role_event(self) -> bytes:
        return self._base.role_event()

    def script(self, texts: tuple[str, ...]) -> None:
        self._base.script(texts)

    def tokens(self, start: int, count: int) -> bytes:
        return self._base.tokens(start, count)

    def token_event(self, text: bytes, last: bool) -> bytes:
        if self._pad is not None:
            text, self._pad = text + self._pad, None
        return self._base.token_event(text, last)

    def usage_event(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
    ) -> bytes:
        return self._base.usage_event(prompt_tokens, completion_tokens, cached_tokens)

    def tail(self, gen: GenerationRequest, cached_tokens: int | None) -> bytes:
        return self._base.tail(gen, cached_tokens)

    def error_event(self) -> bytes:
        return self._base.error_event()

    def body(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None
    ) -> bytes:
        return self._base.body(prompt_tokens, completion_tokens, cached_tokens)
