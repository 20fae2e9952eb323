"""The latency decomposition's three splits on constructed requests: exact from per-request
engine phases (the parts are the known intervals, summing to E2E), apportioned from server
histogram means (the run means equal the server's, the rest stays unexplained), none."""

from __future__ import annotations

from array import array

import pytest

from llmbench.metrics.columns import RunColumns
from llmbench.monitor.decomposition import ServerPhases, decompose
from llmbench.monitor.server_metrics import HistogramDelta, ServerMetrics
from llmbench.records import RequestRecord, Status

MS = 1_000_000


def _record(i: int, *, headers: int, first: int | None, end: int) -> RequestRecord:
    """Request `i` sent at i s; `headers`, `first` and `end` are ns after it was sent."""
    sent = (i + 1) * 1_000 * MS
    offsets = array("q", [first, end] if first is not None else [])
    return RequestRecord(
        request_id=f"r{i}", target_id="t", item_id=f"i{i}", worker_id=0, status=Status.OK,
        scheduled_ns=sent - MS, sent_ns=sent, headers_ns=sent + headers,
        first_token_ns=sent + first if first is not None else None,
        first_content_ns=sent + first if first is not None else None, end_ns=sent + end,
        chunk_offsets_ns=offsets, chunk_tokens=array("I", [1] * len(offsets)),
        chunk_channels=array("B", [0] * len(offsets)), output_tokens=len(offsets),
    )  # fmt: skip


def _metrics(queue_s: float | None = None, prefill_s: float | None = None) -> ServerMetrics:
    histograms = {
        name: HistogramDelta(count=3, sum=3 * mean, mean=mean, buckets=[])
        for name, mean in (("queue_time_s", queue_s), ("prefill_time_s", prefill_s))
        if mean is not None
    }
    return ServerMetrics(status="scraped", source="default", engine="vllm", histograms=histograms)


def test_exact_parts_are_the_intervals_between_the_events() -> None:
    # (headers, first token, end) ms after sending; the engine's (queued, admitted, first).
    shapes = [(2, 40, 100), (3, 90, 150), (1, 25, 60)]
    engine = [(5, 10, 38), (6, 50, 87), (4, 4, 24)]
    columns = RunColumns.from_records(
        _record(i, headers=h * MS, first=f * MS, end=e * MS) for i, (h, f, e) in enumerate(shapes)
    )
    phases = {
        f"r{i}": ServerPhases(*((i + 1) * 1_000 * MS + t * MS for t in times))
        for i, times in enumerate(engine)
    }
    block = decompose(columns, _metrics(0.5, 0.5), phases, "log")
    assert block.split == "exact"
    assert block.additive == ["intake", "queue_wait", "prefill", "first_token_delivery", "decode"]
    expected = {
        "intake": [5, 6, 4],
        "queue_wait": [5, 44, 0],
        "prefill": [28, 37, 20],
        "first_token_delivery": [2, 3, 1],
        "decode": [60, 60, 35],
    }
    for part, values in expected.items():
        assert block.parts[part].mean_ms == pytest.approx(sum(values) / 3), part
        assert block.parts[part].basis.startswith("measured")
    assert block.sum_check_max_ms == 0
    assert block.parts["ttfb"].mean_ms == pytest.approx(2)  # measured beside, not added


def test_exact_without_a_first_token_ends_at_the_engines_first_token() -> None:
    columns = RunColumns.from_records([_record(0, headers=80 * MS, first=None, end=80 * MS)])
    sent = 1_000 * MS
    phases = {"r0": ServerPhases(sent + 3 * MS, sent + 5 * MS, sent + 30 * MS)}
    block = decompose(columns, _metrics(), phases, "log")
    assert block.additive == ["intake", "queue_wait", "prefill", "after_first_token"]
    assert block.parts["after_first_token"].mean_ms == pytest.approx(50)
    assert block.sum_check_max_ms == 0


def test_requests_missing_from_the_log_are_left_unsplit() -> None:
    columns = RunColumns.from_records(
        _record(i, headers=MS, first=20 * MS, end=30 * MS) for i in range(2)
    )
    sent = 1_000 * MS
    block = decompose(columns, _metrics(), {"r0": ServerPhases(sent, sent, sent + 10 * MS)})
    assert (block.parts["queue_wait"].n, block.parts["decode"].n) == (1, 2)
    assert block.sum_check_max_ms == 0
    none_found = decompose(columns, _metrics(0.001, 0.002), {"other": ServerPhases(0, 0, 0)})
    assert none_found.split == "apportioned"
    assert none_found.split_source is not None
    assert none_found.split_source.startswith("no measured request in the simulator's log")


def test_apportioned_means_equal_the_servers_and_the_rest_is_other() -> None:
    waits_ms = [10, 20, 30]  # mean 20 ms of headers → first token
    columns = RunColumns.from_records(
        _record(i, headers=MS, first=(1 + w) * MS, end=(11 + w) * MS)
        for i, w in enumerate(waits_ms)
    )
    block = decompose(columns, _metrics(queue_s=0.004, prefill_s=0.006))
    assert block.split == "apportioned"
    assert block.additive == ["ttfb", "queue_wait", "prefill", "first_token_other", "decode"]
    parts = block.parts
    assert parts["queue_wait"].mean_ms == pytest.approx(4)
    assert parts["prefill"].mean_ms == pytest.approx(6)
    assert parts["first_token_other"].mean_ms == pytest.approx(10)
    assert parts["queue_wait"].p95_ms == pytest.approx(0.2 * 29)  # proportional per request
    assert all(parts[p].basis.startswith("estimated") for p in ("queue_wait", "prefill"))
    assert block.sum_check_max_ms is not None
    assert block.sum_check_max_ms < 1e-9


def test_server_phases_longer_than_the_clients_wait_are_split_by_ratio() -> None:
    columns = RunColumns.from_records([_record(0, headers=MS, first=11 * MS, end=20 * MS)])
    block = decompose(columns, _metrics(queue_s=0.030, prefill_s=0.010))
    assert block.parts["queue_wait"].mean_ms == pytest.approx(7.5)
    assert block.parts["prefill"].mean_ms == pytest.approx(2.5)
    assert block.parts["first_token_other"].mean_ms == pytest.approx(0)
    assert block.split_source is not None
    assert "split by their ratio" in block.split_source


def test_without_histograms_only_the_clients_intervals() -> None:
    columns = RunColumns.from_records([_record(0, headers=MS, first=11 * MS, end=20 * MS)])
    block = decompose(columns, _metrics())
    assert block.split == "none"
    assert block.additive == ["ttfb", "first_token_wait", "decode"]
    assert "queue_wait" not in block.parts
    assert block.sum_check_max_ms == 0


def test_a_queue_histogram_alone_splits_off_the_queue() -> None:  # SGLang, TGI
    columns = RunColumns.from_records(
        _record(i, headers=MS, first=(1 + w) * MS, end=(11 + w) * MS)
        for i, w in enumerate([10, 30])
    )
    block = decompose(columns, _metrics(queue_s=0.005))
    assert block.split == "apportioned"
    assert block.additive == ["ttfb", "queue_wait", "first_token_other", "decode"]
    assert block.parts["queue_wait"].mean_ms == pytest.approx(5)
    assert block.parts["first_token_other"].mean_ms == pytest.approx(15)
    assert block.split_source is not None
    assert "no prefill histogram" in block.split_source
    assert decompose(columns, _metrics(prefill_s=0.005)).split == "none"
