"""Parsing of the X-Sim-Fault header.

Every known value, and a refusal (the server answers 400) for anything else.
"""

from __future__ import annotations

import pytest

from llmbench.sim.server.faults import (
    Fault,
    FaultError,
    FaultPolicy,
    HugeChunkEncoder,
    delayed_after,
    done_tail,
    parse_fault,
    parse_fault_rates,
)
from llmbench.sim.server.protocol import DONE_EVENT, ResponseEncoder


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
        ("http_429:0", Fault(name="http_429:0", status=429, retry_after_s=0)),
        ("echo_auth", Fault(name="echo_auth", status=500, echo_auth=True)),
        ("duplicate_done", Fault(name="duplicate_done", duplicate_done=True)),
        ("missing_done", Fault(name="missing_done", missing_done=True)),
        ("slow_headers:40", Fault(name="slow_headers:40", headers_delay_ns=40_000_000)),
        (
            "stall_after:3:7",
            Fault(name="stall_after:3:7", stall_after_chunks=3, stall_after_ns=7_000_000),
        ),
        ("huge_chunk:1024", Fault(name="huge_chunk:1024", huge_chunk_bytes=1024)),
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
        "stall_after:3",
        "stall_after::5",
        "huge_chunk:999999999999",
        "http_429:x",
    ],
)
def test_unknown_faults_are_refused(value: str) -> None:
    with pytest.raises(FaultError, match="X-Sim-Fault"):
        parse_fault(value)


def test_rates_parse_with_short_names_and_arguments() -> None:
    assert parse_fault_rates("429:0.1, 500:0.05,cut_after:3:0.2") == (
        ("http_429", 0.1),
        ("http_500", 0.05),
        ("cut_after:3", 0.2),
    )
    assert parse_fault_rates("") == ()


@pytest.mark.parametrize("text", ["429", "429:x", "418:0.1", "429:1.5", "429:0.6,500:0.6", ":0.1"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(FaultError):
        parse_fault_rates(text)


def test_policy_draws_depend_only_on_seed_and_request_number() -> None:
    policy = FaultPolicy(parse_fault_rates("429:0.25,503:0.25"), seed=3)
    draws = [policy.pick(seq) for seq in range(2000)]
    assert draws == [
        FaultPolicy(parse_fault_rates("429:0.25,503:0.25"), 3).pick(s) for s in range(2000)
    ]
    names = [d.name if d else None for d in draws]
    for name in ("http_429", "http_503", None):  # 500 / 500 / 1000 expected; binomial sd ≈ 20
        expected = 1000 if name is None else 500
        assert abs(names.count(name) - expected) < 120
    assert not FaultPolicy((), seed=1)
    assert FaultPolicy((), seed=1).pick(1) is None


def test_stall_after_moves_the_rest_of_the_plan() -> None:
    plan = iter([(10, 1), (20, 1), (30, 1), (40, 1)])
    fault = parse_fault("stall_after:2:1")
    assert list(delayed_after(plan, fault)) == [(10, 1), (20, 1), (1_000_030, 1), (1_000_040, 1)]


def test_done_tail() -> None:
    assert done_tail(b"u" + DONE_EVENT, parse_fault("duplicate_done")) == b"u" + DONE_EVENT * 2
    assert done_tail(b"u" + DONE_EVENT, parse_fault("missing_done")) == b"u"
    assert done_tail(DONE_EVENT, None) == DONE_EVENT


def test_huge_chunk_pads_only_the_first_event() -> None:
    base = ResponseEncoder("chat", "id", 0, "m")
    encoder = HugeChunkEncoder(base, 100)
    first, second = encoder.token_event(b" a", False), encoder.token_event(b" b", False)
    assert b" a" + b"x" * 100 in first
    assert second == base.token_event(b" b", False)
