"""Per-request metrics on hand-built records; the columnar helpers agree with the scalar ones."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from llmbench.metrics import request as m
from llmbench.records import RequestRecord

MS = 1_000_000  # ns per ms
MakeRecord = Callable[..., RequestRecord]


@pytest.fixture
def streamed(make_record: MakeRecord) -> RequestRecord:
    # sent = 1_000, scheduled = 500 (client lag 500 ns); headers at +50 ms, first token at
    # +200 ms, first visible content at +300 ms, end at +1000 ms; 4 chunks at 200/300/500/900 ms
    return make_record(
        scheduled_ns=500,
        headers_ns=1_000 + 50 * MS,
        first_token_ns=1_000 + 200 * MS,
        first_content_ns=1_000 + 300 * MS,
        end_ns=1_000 + 1_000 * MS,
        offsets_ms=[200, 300, 500, 900],
        output_tokens=4,
    )


def test_latencies(streamed: RequestRecord) -> None:
    assert m.ttfb_ns(streamed) == 50 * MS
    assert m.ttft_ns(streamed) == 200 * MS
    assert m.ttfo_ns(streamed) == 300 * MS
    assert m.e2e_ns(streamed) == 1_000 * MS
    assert m.client_lag_ns(streamed) == 500  # 1_000 − 500
    assert m.scheduled_ttft_ns(streamed) == 200 * MS + 500
    assert m.scheduled_e2e_ns(streamed) == 1_000 * MS + 500


def test_one_token_per_chunk(streamed: RequestRecord) -> None:
    assert m.itl_gaps_ns(streamed).tolist() == [100 * MS, 200 * MS, 400 * MS]
    assert m.itl_per_token_ns(streamed).tolist() == [100 * MS, 200 * MS, 400 * MS]
    assert m.tpot_ns(streamed) == pytest.approx(800 * MS / 3)  # (1000 − 200) / (4 − 1)
    assert m.ntpot_ns(streamed) == 250 * MS  # 1000 / 4
    assert m.tokens_per_chunk(streamed) == 1.0
    assert m.output_tokens_per_s(streamed) == pytest.approx(3.75)  # 3 tokens / 0.8 s


def test_server_packs_k_tokens_per_chunk(make_record: MakeRecord) -> None:
    # usage says 12 tokens over 4 chunks, the client counted 1 per chunk (no tokenizer): k = 3
    r = make_record(
        first_token_ns=1_000 + 200 * MS,
        end_ns=1_000 + 1_000 * MS,
        offsets_ms=[200, 300, 500, 900],
        output_tokens=12,
    )
    assert m.tokens_per_chunk(r) == 3.0
    assert m.itl_gaps_ns(r).tolist() == [100 * MS, 200 * MS, 400 * MS]  # chunk gaps unchanged
    assert m.itl_per_token_ns(r) == pytest.approx([100 * MS / 3, 200 * MS / 3, 400 * MS / 3])
    assert m.tpot_ns(r) == pytest.approx(800 * MS / 11)  # (1000 − 200) / (12 − 1)
    assert m.ntpot_ns(r) == pytest.approx(1_000 * MS / 12)


def test_per_token_itl_uses_tokenizer_counts(make_record: MakeRecord) -> None:
    # later chunks carry 3, 0, 4 tokens: 100/3 ms, (200 ms into a 0-token chunk: skipped), 400/4
    r = make_record(offsets_ms=[200, 300, 500, 900], tokens=[2, 3, 0, 4], output_tokens=9)
    assert m.itl_per_token_ns(r) == pytest.approx([100 * MS / 3, 100 * MS])


def test_not_applicable_is_none(make_record: MakeRecord) -> None:
    # one token in one chunk at +5 ms, stream ends there
    one = make_record(
        first_token_ns=1_000 + 5 * MS, end_ns=1_000 + 5 * MS, offsets_ms=[5], output_tokens=1
    )
    assert m.tpot_ns(one) is None  # needs 2 tokens
    assert m.output_tokens_per_s(one) is None
    assert m.ntpot_ns(one) == 5 * MS
    assert m.itl_gaps_ns(one).size == 0
    failed = make_record()  # nothing arrived
    for fn in (m.ttfb_ns, m.ttft_ns, m.ttfo_ns, m.e2e_ns, m.tpot_ns, m.ntpot_ns):
        assert fn(failed) is None
    assert m.tokens_per_chunk(failed) is None
    zero = make_record(end_ns=1_000 + MS, output_tokens=0)
    assert m.ntpot_ns(zero) is None


def _records(make_record: MakeRecord) -> list[RequestRecord]:
    return [
        make_record(),  # no chunks
        make_record(
            headers_ns=1_000 + 10 * MS,
            first_token_ns=1_000 + 20 * MS,
            end_ns=1_000 + 90 * MS,
            offsets_ms=[20, 30, 60],
            output_tokens=9,  # k = 3 fallback
        ),
        make_record(first_token_ns=1_000 + 7 * MS, end_ns=1_000 + 8 * MS, offsets_ms=[7]),
        make_record(
            sent_ns=2**60,  # above 2⁵³: differences must still be exact
            scheduled_ns=2**60 - 3,
            first_token_ns=2**60 + 11,
            end_ns=2**60 + 41,
            offsets_ms=[11 / MS, 21 / MS, 41 / MS],
            tokens=[1, 2, 5],
            output_tokens=8,
        ),
        make_record(offsets_ms=[]),
    ]


def test_table_agrees_with_scalar_functions(make_record: MakeRecord) -> None:
    records = _records(make_record)
    table = m.request_table(records)
    scalar = {
        "ttfb_ns": m.ttfb_ns,
        "ttft_ns": m.ttft_ns,
        "ttfo_ns": m.ttfo_ns,
        "e2e_ns": m.e2e_ns,
        "client_lag_ns": m.client_lag_ns,
        "scheduled_ttft_ns": m.scheduled_ttft_ns,
        "scheduled_e2e_ns": m.scheduled_e2e_ns,
        "tpot_ns": m.tpot_ns,
        "ntpot_ns": m.ntpot_ns,
        "tokens_per_chunk": m.tokens_per_chunk,
        "output_tokens_per_s": m.output_tokens_per_s,
    }
    for name, fn in scalar.items():
        for row, record in enumerate(records):
            expected = fn(record)
            got = float(table[name][row])
            assert math.isnan(got) if expected is None else got == pytest.approx(expected), name
    assert table["ttft_ns"][3] == 11.0
    assert table["scheduled_ttft_ns"][3] == 14.0  # 11 + lag 3


def test_pooled_itl_equals_per_record_concatenation(make_record: MakeRecord) -> None:
    records = _records(make_record)
    gaps, per_token = m.pooled_itl_ns(records)
    assert gaps.tolist() == np.concatenate([m.itl_gaps_ns(r) for r in records]).tolist()
    expected = np.concatenate([m.itl_per_token_ns(r) for r in records])
    assert per_token == pytest.approx(expected)
    # record 1: gaps 10, 30 ms over k = 3; record 3: 10 ns / 2, 20 ns / 5
    assert per_token == pytest.approx([10 * MS / 3, 30 * MS / 3, 5.0, 4.0])


def test_pooled_itl_of_nothing(make_record: MakeRecord) -> None:
    gaps, per_token = m.pooled_itl_ns([make_record(offsets_ms=[1])])
    assert gaps.size == per_token.size == 0


def test_mismatched_token_counts_taken_as_one(make_record: MakeRecord) -> None:
    r = make_record(offsets_ms=[1, 2, 4], tokens=[5])  # 3 chunks, 1 count: unusable
    assert m.chunk_token_counts(r).tolist() == [1.0, 1.0, 1.0]
    assert m.itl_per_token_ns(r).tolist() == [1 * MS, 2 * MS]
