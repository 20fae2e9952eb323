"""Goodput and delivered-load checks on hand-built records (small integer ns, arithmetic in
comments)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llmbench.config import SloSpec, ValiditySpec
from llmbench.config.slo import parse_slo
from llmbench.errors import ConfigError
from llmbench.metrics.delivery import closed_loop_delivery, mean_concurrency, open_loop_delivery
from llmbench.metrics.slo import goodput, violations
from llmbench.records import ErrorCategory, RequestError, RequestRecord, Status

MS = 1_000_000
Make = Callable[..., RequestRecord]


def answer(
    make: Make, *, ttft_ms: float, end_ms: float, lag_ms: float = 0, **kw: object
) -> RequestRecord:
    """Sent at 1 ms (+lag), first token ttft_ms later, 11 tokens, ends end_ms after sending."""
    sent = MS + round(lag_ms * MS)
    return make(
        scheduled_ns=MS,
        sent_ns=sent,
        first_token_ns=sent + round(ttft_ms * MS),
        end_ns=sent + round(end_ms * MS),
        output_tokens=11,
        offsets_ms=[ttft_ms, end_ms],
        **kw,
    )


def test_parse_slo_and_its_errors() -> None:
    slo = parse_slo("ttft_ms:500, tpot_ms:50,e2e_ms:10000", 0.9)
    assert slo.limits_ms() == {"ttft_ms": 500.0, "tpot_ms": 50.0, "e2e_ms": 10000.0}
    assert slo.attainment == 0.9
    for text, where in [("ttft_ms=5", "--slo"), ("bogus_ms:5", "--slo"), ("ttft_ms:-1", "--slo")]:
        with pytest.raises(ConfigError, match=where):
            parse_slo(text)
    with pytest.raises(ConfigError, match="--slo-attainment"):
        parse_slo("ttft_ms:5", 1.5)


def test_goodput_counts_errors_against(make_record: Make) -> None:
    slo = SloSpec(ttft_ms=100, tpot_ms=10, attainment=0.5)
    good = answer(make_record, ttft_ms=50, end_ms=150)  # TPOT (150 − 50)/10 = 10 ms: meets ≤ 10
    slow_first = answer(make_record, ttft_ms=120, end_ms=200)  # TTFT 120 > 100
    slow_decode = answer(make_record, ttft_ms=50, end_ms=260)  # TPOT 21 > 10
    failed = make_record(
        status=Status.ERROR, error=RequestError(ErrorCategory.HTTP_5XX, "boom", 500)
    )
    warm = answer(make_record, ttft_ms=50, end_ms=150, warmup=True)  # not counted at all
    records = [good, slow_first, slow_decode, failed, warm]
    out = goodput(records, slo, duration_s=2.0, from_scheduled=False)
    assert out["measured"] == 4
    assert out["good"] == 1
    assert out["good_fraction"] == 0.25
    assert out["goodput_per_s"] == 0.5  # 1 good / 2 s
    assert out["missed_by_objective"] == {"ttft_ms": 2, "tpot_ms": 2}  # the error misses both
    assert out["met"] is False  # 25 % < 50 %


def test_open_loop_slo_counts_client_lag(make_record: Make) -> None:
    slo = SloSpec(ttft_ms=100)
    late = answer(make_record, ttft_ms=80, end_ms=150, lag_ms=30)  # from plan: 30 + 80 = 110
    assert violations(late, slo, from_scheduled=False) == []
    assert violations(late, slo, from_scheduled=True) == ["ttft_ms"]


def test_open_loop_delivery_on_time_and_late(make_record: Make) -> None:
    validity = ValiditySpec()
    # 21 sends planned 10 ms apart (100/s), each sent 1 ms late: on time, rate kept
    on_time = [make_record(scheduled_ns=k * 10 * MS, sent_ns=k * 10 * MS + MS) for k in range(21)]
    out = open_loop_delivery(on_time, requested_rate_per_s=100.0, waited_for_cap=0,
                             dispatch_lag_ns=[0] * 21, validity=validity)  # fmt: skip
    assert out["delivery"]["planned_rate_per_s"] == pytest.approx(100.0)
    assert out["delivery"]["achieved_rate_per_s"] == pytest.approx(100.0)
    assert out["delivery"]["send_lag_ms"]["p50"] == pytest.approx(1.0)
    assert out["validity"]["valid"] is True
    # the same plan sent 20 ms apart (50/s): lags 0, 10, ..., 200 ms; 19 beyond 10 ms
    behind = [make_record(scheduled_ns=k * 10 * MS, sent_ns=k * 20 * MS) for k in range(21)]
    out = open_loop_delivery(behind, requested_rate_per_s=100.0, waited_for_cap=10,
                             dispatch_lag_ns=[], validity=validity)  # fmt: skip
    assert out["delivery"]["achieved_rate_per_s"] == pytest.approx(50.0)
    assert out["delivery"]["late_sends"] == 19
    assert out["validity"]["valid"] is False
    assert len(out["validity"]["reasons"]) == 2
    # a short run: one late send (the first connection) is tolerated, and its rate not judged
    short = [make_record(scheduled_ns=k * 10 * MS, sent_ns=k * 10 * MS) for k in range(8)]
    short[0] = make_record(scheduled_ns=0, sent_ns=15 * MS)
    out = open_loop_delivery(short, requested_rate_per_s=100.0, waited_for_cap=0,
                             dispatch_lag_ns=[], validity=validity)  # fmt: skip
    assert out["delivery"]["late_sends"] == 1
    assert out["validity"]["valid"] is True


def test_closed_loop_mean_concurrency(make_record: Make) -> None:
    # two streams over [0, 100 ms] sends: busy 100 + 100 of 100 ms → 2.0; the third request was
    # sent at 100 ms and runs past the window, which ends at the last send
    records = [
        make_record(sent_ns=0, end_ns=100 * MS),
        make_record(sent_ns=0, end_ns=300 * MS),
        make_record(sent_ns=100 * MS, end_ns=200 * MS),
    ]
    assert mean_concurrency(records) == pytest.approx(2.0)
    assert closed_loop_delivery(records, concurrency=2, validity=ValiditySpec())["validity"][
        "valid"
    ]
    starved = closed_loop_delivery(records, concurrency=4, validity=ValiditySpec())
    assert starved["validity"]["valid"] is False
    assert "mean concurrency 2.00 against 4" in starved["validity"]["reasons"][0]


def test_closed_loop_retry_waits_are_in_flight_not_lag(make_record: Make) -> None:
    # Two streams over the sends' window [0, 100 ms]. Stream 2's request got a 429 at 0 ms and
    # was resent at 80 ms (its Retry-After): first attempt 0, last 80, end 300. In flight from
    # the first attempt: busy 100 + 100 of 100 ms → 2.0 (from the last attempt: 1.2, invalid).
    records = [
        make_record(scheduled_ns=0, sent_ns=0, end_ns=100 * MS),
        make_record(
            scheduled_ns=0, sent_ns=80 * MS, end_ns=300 * MS, first_sent_ns=0, attempts=2,
            retry_wait_ns=79 * MS,
        ),
        make_record(scheduled_ns=100 * MS, sent_ns=100 * MS, end_ns=200 * MS),
    ]  # fmt: skip
    out = closed_loop_delivery(records, concurrency=2, validity=ValiditySpec())
    assert out["delivery"]["mean_concurrency"] == pytest.approx(2.0)
    assert out["validity"]["valid"] is True
    assert out["delivery"]["send_lag_ms"]["max"] == 0.0  # every first attempt went on time
    assert out["delivery"]["retries"] == {
        "requests": 1, "extra_attempts": 1, "delay_ms": {"p50": 80.0, "p99": 80.0, "max": 80.0},
    }  # fmt: skip


def test_open_loop_retries_are_not_late_sends(make_record: Make) -> None:
    # 21 sends 10 ms apart, on time; every 4th was answered 429 and resent 1 s later.
    records = [
        make_record(
            scheduled_ns=k * 10 * MS, sent_ns=k * 10 * MS + (1000 * MS if k % 4 == 0 else 0),
            first_sent_ns=k * 10 * MS if k % 4 == 0 else None, attempts=2 if k % 4 == 0 else 1,
        )
        for k in range(21)
    ]  # fmt: skip
    out = open_loop_delivery(records, requested_rate_per_s=100.0, waited_for_cap=0,
                             dispatch_lag_ns=[], validity=ValiditySpec())  # fmt: skip
    assert out["delivery"]["late_sends"] == 0
    assert out["delivery"]["achieved_rate_per_s"] == pytest.approx(100.0)
    assert out["validity"]["valid"] is True
    assert out["delivery"]["retries"]["requests"] == 6  # k = 0, 4, ..., 20
    assert out["delivery"]["retries"]["delay_ms"]["p50"] == pytest.approx(1000.0)
