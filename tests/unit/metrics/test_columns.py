"""The column store: fed record by record it gives exactly the per-record metric table and
pooled ITL gaps of the records it replaced, and keeps well under 1 kB per request."""

from __future__ import annotations

import tracemalloc
from array import array

import numpy as np

from llmbench.metrics.columns import RunColumns
from llmbench.metrics.request import pooled_itl_ns, request_table
from llmbench.metrics.summary import summarize_run
from llmbench.records import RequestRecord, Status
from support.records import varied_records


def test_columns_equal_the_record_functions_exactly() -> None:
    records = varied_records(500, seed=11)
    ok = [r for r in records if r.ok and not r.warmup]
    columns = RunColumns()
    for record in records:
        columns.append(record)
    expected, got = request_table(ok), columns.table()
    assert set(got) == set(expected)
    for name, column in expected.items():
        np.testing.assert_array_equal(got[name], column, err_msg=name)  # NaN equals NaN
    gaps, per_token = pooled_itl_ns(ok)
    got_gaps, got_per_token = columns.pooled_itl_ns()
    np.testing.assert_array_equal(got_gaps, gaps)
    np.testing.assert_array_equal(got_per_token, per_token)
    assert columns.ok_request_ids() == [r.request_id for r in ok]
    assert (columns.n_records, columns.n_warmup) == (500, sum(r.warmup for r in records))
    assert columns.n_measured == len(records) - columns.n_warmup


def test_gaps_beyond_int32_are_kept_exactly() -> None:
    long = _record(0, 3)
    offsets = array("q", [1, 3_000_000_001, 3_000_000_002, 12_000_000_000])
    records = [long, RequestRecord(**{**_fields(long), "chunk_offsets_ns": offsets,
               "chunk_tokens": array("I", [1, 1, 1, 1]), "output_tokens": 4})]  # fmt: skip
    gaps, _ = RunColumns.from_records(records).pooled_itl_ns()
    assert gaps.tolist() == [2_000_000, 2_000_000, 3_000_000_000, 1, 8_999_999_998]


def _fields(record: RequestRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def test_an_empty_store() -> None:
    columns = RunColumns()
    assert columns.ok_request_ids() == []
    gaps, per_token = columns.pooled_itl_ns()
    assert gaps.size == per_token.size == 0
    assert all(col.size == 0 for col in columns.table().values())


def _record(i: int, n_chunks: int) -> RequestRecord:
    sent = 10**15 + i * 1_000_000
    offsets = array("q", [20_000_000 + k * 2_000_000 for k in range(n_chunks)])
    return RequestRecord(
        request_id=f"run-20261201-{i}", target_id="sim", item_id=f"item-{i}", worker_id=0,
        status=Status.OK, scheduled_ns=sent, sent_ns=sent, headers_ns=sent + 1_000_000,
        first_token_ns=sent + offsets[0], first_content_ns=sent + offsets[0],
        end_ns=sent + offsets[-1] + 1_000, chunk_offsets_ns=offsets,
        chunk_tokens=array("I", [1] * n_chunks), chunk_channels=array("B", [0] * n_chunks),
        input_tokens=32, output_tokens=n_chunks, usage_output_tokens=n_chunks,
        requested_output_tokens=n_chunks,
    )  # fmt: skip


def test_memory_per_request_stays_under_1_kb() -> None:
    """32-token answers (the soak's): ~13 int64 columns, the id and 31 pooled gaps ≈ 0.5 kB."""
    n = 5_000
    records = [_record(i, 32) for i in range(n)]
    columns = RunColumns()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for record in records:
            columns.append(record)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert columns.n_measured == n
    assert grown / n < 1024, f"{grown / n:.0f} B per request"


def test_scaled_pooled_samples_equal_the_int_ones_divided() -> None:
    """What the summary describes, made from the int32 store in one array, is value for value
    the int64 gaps (and per-token gaps) divided: a bit-identical summary needs exactly that."""
    records = varied_records(400, seed=5)
    long = _record(0, 3)
    records.append(RequestRecord(**{**_fields(long), "chunk_offsets_ns": array(
        "q", [1, 3_000_000_001, 3_000_000_002, 12_000_000_000]), "chunk_tokens": array(
        "I", [1, 2, 0, 1]), "output_tokens": 4}))  # fmt: skip
    columns = RunColumns.from_records(records)
    assert columns.per_token_differs
    gaps, per_token = columns.pooled_itl_ns()
    assert gaps.max() > 2**31  # the long gaps are in
    for got, want in ((columns.pooled_itl_scaled(1e6), gaps / 1e6),
                      (columns.pooled_itl_per_token_scaled(1e6), per_token / 1e6)):  # fmt: skip
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()
    ok = [r for r in records if r.ok and not r.warmup]
    rows = [0, 7, len(ok) - 1, 3]
    assert columns.ok_request_ids_at(rows) == [ok[i].request_id for i in rows]
    one_token = RunColumns.from_records([_record(i, 5) for i in range(3)])
    assert not one_token.per_token_differs
    np.testing.assert_array_equal(one_token.pooled_itl_per_token_scaled(1e6),
                                  one_token.pooled_itl_scaled(1e6))  # fmt: skip


def test_the_summary_holds_at_most_two_copies_of_the_pooled_gaps() -> None:
    """At the end of a large run the pooled ITL gaps dominate the summary's memory: it makes one
    float64 sample of them and at most one more array as large at a time (the std's deviations,
    the sorted copy, the bootstrap's labels), plus the bootstrap's fixed ~24 MB of resample
    chunks: ~59 MiB here. Before, five such arrays were alive at once (the int64 and two
    float64 copies of both samples, then the sort on top): ~90 MiB."""
    columns = RunColumns.from_records(_record(i, 401) for i in range(5_000))
    n_gaps = 5_000 * 400
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        base = tracemalloc.get_traced_memory()[0]
        summarize_run(columns, seed=0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 2 * 8 * n_gaps + 40 * 2**20, f"{peak / 2**20:.0f} MiB for {n_gaps:,} gaps"
