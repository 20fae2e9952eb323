"""summarize_run / three_sigma on a small hand-built run: exclusions, counts, rates, flags."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from llmbench.metrics import summarize_run, three_sigma
from llmbench.metrics.stats import describe
from llmbench.records import (
    CountSource,
    ErrorCategory,
    RequestError,
    RequestRecord,
    Status,
)

MS = 1_000_000  # ns per ms
MakeRecord = Callable[..., RequestRecord]


def _ok(make: MakeRecord, sent_ms: int, ttft_ms: int, e2e_ms: int, **fields: Any) -> RequestRecord:
    sent = 1_000 + sent_ms * MS
    base: dict[str, Any] = {
        "sent_ns": sent,
        "scheduled_ns": sent,
        "headers_ns": sent + ttft_ms * MS // 2,
        "first_token_ns": sent + ttft_ms * MS,
        "first_content_ns": sent + ttft_ms * MS,
        "end_ns": sent + e2e_ms * MS,
        "offsets_ms": [ttft_ms, (ttft_ms + e2e_ms) / 2, e2e_ms],
        "output_tokens": 3,
        "output_tokens_source": CountSource.USAGE,
        "http_status": 200,
    }
    base.update(fields)
    return make(**base)


def _error(make: MakeRecord, sent_ms: int, end_ms: int, err: RequestError) -> RequestRecord:
    sent = 1_000 + sent_ms * MS
    return make(
        sent_ns=sent,
        scheduled_ns=sent,
        end_ns=1_000 + end_ms * MS,
        first_token_ns=sent + MS,  # a token arrived, then it failed: still not in latency stats
        status=Status.ERROR,
        error=err,
        http_status=err.http_status,
    )


@pytest.fixture
def run(make_record: MakeRecord) -> list[RequestRecord]:
    return [
        # warm-up: slow and counted, never in a statistic (its sent 0 ms is not the run start)
        _ok(make_record, 0, 5_000, 9_000, warmup=True),
        _ok(make_record, 10, 5_000, 9_000, warmup=True),
        # measured ok: sent at 100, 200, 300 ms; TTFT 100, 200, 300 ms; E2E 400, 500, 600 ms
        _ok(make_record, 100, 100, 400, usage_output_tokens=3, tokenizer_output_tokens=5),
        _ok(make_record, 200, 200, 500, requested_output_tokens=4),
        _ok(make_record, 300, 300, 600, requested_output_tokens=3),
        # measured errors: a 429 and a timeout; the timeout ends last, at 1100 ms
        _error(make_record, 150, 160, RequestError(ErrorCategory.HTTP_429, "slow down", 429)),
        _error(
            make_record,
            250,
            1_100,
            RequestError(ErrorCategory.TIMEOUT_MID_STREAM, "no chunk for 30 s"),
        ),
    ]


def test_covers_and_counts(run: list[RequestRecord]) -> None:
    s = summarize_run(run)
    assert s["covers"] == {
        "records": 7,
        "warmup": 2,
        "measured": 5,
        "ok": 3,
        "latency_stats_over": "ok requests, warm-up excluded",
    }
    c = s["counts"]
    assert (c["ok"], c["error"], c["warmup"]) == (3, 2, 2)
    assert c["by_category"] == {"http_429": 1, "timeout_mid_stream": 1}
    assert c["by_http_status"] == {"200": 3, "429": 1}  # the timeout had no status


def test_latency_over_ok_measured_only(run: list[RequestRecord]) -> None:
    summary = summarize_run(run)["summary"]
    ttft = summary["ttft_ms"]
    assert ttft["n"] == 3  # not the warm-ups (5000 ms), not the errors (1 ms)
    assert ttft["mean"] == pytest.approx(200.0)  # (100 + 200 + 300) / 3
    assert (ttft["min"], ttft["max"]) == (100.0, 300.0)
    assert ttft["p90"] is None  # n = 3 does not support P90
    assert summary["e2e_ms"]["mean"] == pytest.approx(500.0)
    # TPOT = (E2E − TTFT) / (3 − 1) = 150 ms for every ok request
    assert summary["tpot_ms"]["mean"] == pytest.approx(150.0)
    # ITL: 2 gaps per request of (E2E − TTFT) / 2 = 150 ms, pooled: 6 gaps
    assert summary["itl_ms"]["n"] == 6
    assert summary["itl_ms"]["p50"] == pytest.approx(150.0)
    assert summary["ntpot_ms"]["mean"] == pytest.approx(500.0 / 3)
    assert summary["client_lag_ms"]["max"] == 0.0
    assert summary["scheduled_ttft_ms"]["mean"] == pytest.approx(200.0)
    assert summary["output_tokens"]["mean"] == 3.0
    assert summary["input_tokens"]["n"] == 0  # never given: n = 0, not zeros
    assert summary["input_tokens"]["mean"] is None


def test_run_level_rates(run: list[RequestRecord]) -> None:
    summary = summarize_run(run)["summary"]
    # measured: first sent at 100 ms, last end at 1100 ms (the timeout) → 1.0 s
    assert summary["duration_s"] == pytest.approx(1.0)
    assert summary["requests_per_s"] == pytest.approx(3.0)  # 3 ok / 1 s
    assert summary["output_tokens_per_s"] == pytest.approx(9.0)  # 3 × 3 tokens / 1 s
    assert summary["error_rate"] == pytest.approx(0.4)  # 2 / 5


def test_tokens_section(run: list[RequestRecord]) -> None:
    tokens = summarize_run(run)["tokens"]
    assert tokens["source_counts"] == {"usage": 3, "tokenizer": 0, "chunks": 0}
    assert tokens["chunk_count_fallback"] == 0
    assert tokens["usage_vs_tokenizer"] == {
        "n_compared": 1,
        "n_different": 1,
        "mean_abs_diff": 2.0,  # |3 − 5|
        "max_abs_diff": 2,
    }
    # generated 3 vs requested 4 (short by 1) and 3 vs 3
    assert tokens["requested_vs_generated"] == {
        "n_compared": 2,
        "n_short": 1,
        "n_long": 0,
        "mean_diff": -0.5,
    }


def test_outliers_flagged_by_request_id_not_dropped(make_record: MakeRecord) -> None:
    records = [_ok(make_record, i, 100, 400) for i in range(30)]
    slow = _ok(make_record, 30, 10_000, 10_300)
    records.append(slow)
    s = summarize_run(records)
    assert s["summary"]["ttft_ms"]["n"] == 31
    assert s["summary"]["ttft_ms"]["max"] == 10_000.0
    flags = s["outliers"]["ttft_ms"]
    assert (flags["n_beyond_1_5"], flags["n_beyond_3"]) == (1, 1)
    assert flags["request_ids_beyond_3"] == [slow.request_id]
    assert set(s["outliers"]) == {"ttft_ms", "e2e_ms", "tpot_ms"}
    view = three_sigma(records)
    # 30 equal values and one other: z = 30 / √31 = 5.4 > 3
    assert view["ttft_ms"]["n_dropped"] == 1
    assert view["ttft_ms"]["after"]["max"] == 100.0
    assert set(view) >= {"ttft_ms", "e2e_ms", "tpot_ms", "itl_ms"}


def test_no_ok_requests_gives_none_not_zero(make_record: MakeRecord) -> None:
    err = RequestError(ErrorCategory.CONNECT, "refused")
    s = summarize_run([_error(make_record, 0, 10, err)])
    summary = s["summary"]
    assert summary["ttft_ms"]["n"] == 0
    assert summary["ttft_ms"]["mean"] is None
    assert summary["output_tokens_per_s"] is None
    assert summary["requests_per_s"] == 0.0  # a real zero: nothing completed in 10 ms
    assert summary["error_rate"] == 1.0
    assert s["outliers"]["ttft_ms"]["n_beyond_3"] is None


def test_empty_run() -> None:
    s = summarize_run([])
    assert s["covers"]["records"] == 0
    for key in ("duration_s", "requests_per_s", "output_tokens_per_s", "error_rate"):
        assert s["summary"][key] is None


def test_json_ready_and_seeded(run: list[RequestRecord]) -> None:
    a = json.dumps(summarize_run(run, seed=1), allow_nan=False)
    assert a == json.dumps(summarize_run(run, seed=1), allow_nan=False)
    json.dumps(three_sigma(run), allow_nan=False)


@pytest.mark.parametrize("tokens", [[1, 1, 1], [1, 2, 4]])
def test_per_token_itl_is_its_own_describe_whether_or_not_it_equals_the_itl(
    make_record: MakeRecord, tokens: list[int]
) -> None:
    # One token per chunk: per-token ITL = ITL, so the summary describes it once and copies it;
    # with k tokens per chunk the later chunk's gap is divided by k. Either way the entry must
    # be exactly `describe` of that sample.
    records = [make_record(offsets_ms=[10, 30, 70], tokens=tokens, output_tokens=sum(tokens))]
    summary = summarize_run(records, seed=5)["summary"]
    gaps = [20.0, 40.0]  # 30 − 10, 70 − 30 ms
    per_token = [g / k for g, k in zip(gaps, tokens[1:], strict=True)]
    assert summary["itl_ms"] == describe(gaps, seed=5, max_indices=50)
    assert summary["itl_per_token_ms"] == describe(per_token, seed=5, max_indices=50)
    assert summary["itl_per_token_ms"] is not summary["itl_ms"]
