"""Parsing of the X-Sim-Fault header.

Every known value, and a refusal (the server answers 400) for anything else.
"""

from __future__ import annotations

import pytest

from llmbench.sim.faults import Fault, FaultError, parse_fault


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http_429", Fault(name="http_429", status=429)),
        ("http_500", Fault(name="http_500", status=500)),
        (" http_503 ", Fault(name="http_503", status=503)),
        ("malformed_sse", Fault(name="malformed_sse", malformed_sse=True)),
        ("wrong_content_type", Fault(name="wrong_content_type", wrong_content_type=True)),
        ("cut_after:0", Fault(name="cut_after:0", cut_after_chunks=0)),
        ("cut_after:12", Fault(name="cut_after:12", cut_after_chunks=12)),
        ("stall_ms:250", Fault(name="stall_ms:250", stall_ns=250_000_000)),
    ],
)
def test_known_faults(value: str, expected: Fault) -> None:
    assert parse_fault(value) == expected


@pytest.mark.parametrize("value", [None, "", "   "])
def test_absent_means_no_fault(value: str | None) -> None:
    assert parse_fault(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "http_418",
        "cut_after",
        "cut_after:",
        "cut_after:-1",
        "cut_after:x",
        "stall_ms:²",
        "stall_ms:1e3",
        "stall_ms:99999999999",
        "HTTP_429",
        "malformed_sse:1",
    ],
)
def test_unknown_faults_are_refused(value: str) -> None:
    with pytest.raises(FaultError, match="X-Sim-Fault"):
        parse_fault(value)
