"""Fault injection chosen per request by the `X-Sim-Fault` header.

Values: `http_429`, `http_500`, `http_503`, `malformed_sse`, `wrong_content_type`,
`cut_after:N` (N token chunks, then the connection is closed) and `stall_ms:N`.
"""

from __future__ import annotations

from dataclasses import dataclass

FAULT_HEADER = "X-Sim-Fault"

STATUS_FAULTS = {"http_429": 429, "http_500": 500, "http_503": 503}
_FLAG_FAULTS = ("malformed_sse", "wrong_content_type")
_MAX_STALL_MS = 3_600_000


class FaultError(ValueError):
    """The header names no known fault; the server answers 400."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault; `name` is the header value as logged."""

    name: str
    status: int | None = None
    malformed_sse: bool = False
    wrong_content_type: bool = False
    cut_after_chunks: int | None = None
    stall_ns: int = 0


def parse_fault(value: str | None) -> Fault | None:
    """Parse the header value; None when absent or empty."""
    if value is None or not value.strip():
        return None
    name = value.strip()
    if name in STATUS_FAULTS:
        return Fault(name=name, status=STATUS_FAULTS[name])
    if name == "malformed_sse":
        return Fault(name=name, malformed_sse=True)
    if name == "wrong_content_type":
        return Fault(name=name, wrong_content_type=True)
    kind, sep, arg = name.partition(":")
    if sep and kind == "cut_after":
        return Fault(name=name, cut_after_chunks=_parse_count(arg, name, 10**9))
    if sep and kind == "stall_ms":
        return Fault(name=name, stall_ns=_parse_count(arg, name, _MAX_STALL_MS) * 1_000_000)
    known = ", ".join([*STATUS_FAULTS, *_FLAG_FAULTS, "cut_after:N", "stall_ms:N"])
    raise FaultError(f"unknown {FAULT_HEADER} value; known: {known}")


def _parse_count(arg: str, name: str, maximum: int) -> int:
    if not (arg.isascii() and arg.isdigit()) or int(arg) > maximum:
        raise FaultError(f"{FAULT_HEADER} {name.partition(':')[0]} needs an integer 0..{maximum}")
    return int(arg)
