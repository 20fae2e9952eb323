"""The cold-start detector finds where slow first requests end, says nothing when there is no
slow start or too few requests; usage's cached-token share; the GPU block without a GPU."""

from __future__ import annotations

import random
from array import array

import pytest

from llmbench.metrics.columns import RunColumns
from llmbench.monitor.cache_evidence import cache_evidence, cold_start
from llmbench.monitor.gpu import GpuReader
from llmbench.monitor.processes import ProcessMonitor
from llmbench.monitor.server_metrics import ServerMetrics
from llmbench.records import RequestRecord, Status


def _columns(ttfts_ms: list[float], cached: int = 0) -> RunColumns:
    columns = RunColumns()
    for i, ttft in enumerate(ttfts_ms):
        sent = i * 10_000_000
        first = int(ttft * 1e6)
        offsets = array("q", [first, first + 50_000_000])
        columns.append(
            RequestRecord(
                request_id=f"r{i}", target_id="t", item_id=f"i{i}", worker_id=0,
                status=Status.OK, scheduled_ns=sent, sent_ns=sent, headers_ns=sent + 1,
                first_token_ns=sent + first, first_content_ns=sent + first,
                end_ns=sent + first + 50_000_000, chunk_offsets_ns=offsets,
                chunk_tokens=array("I", [1, 1]), chunk_channels=array("B", [0, 0]),
                input_tokens=100, cached_tokens=cached, output_tokens=2,
            )
        )  # fmt: skip
    return columns


def test_finds_the_end_of_a_slow_start() -> None:
    rng = random.Random(1)
    ttfts = [rng.uniform(400, 500) for _ in range(7)] + [rng.uniform(40, 60) for _ in range(60)]
    verdict = cold_start(_columns(ttfts))
    assert verdict.detected is True
    assert verdict.change_at_request == 7
    assert verdict.ratio > 5


def test_finds_one_slow_first_request() -> None:
    """Concurrency 1, the first request after a deploy: the one request the load waited for."""
    rng = random.Random(2)
    verdict = cold_start(_columns([3000.0] + [rng.uniform(36, 40) for _ in range(19)]))
    assert verdict.detected is True
    assert verdict.change_at_request == 1
    assert verdict.robust_z is not None
    assert verdict.robust_z > 10


def test_a_first_request_a_little_slower_is_no_cold_start() -> None:
    """Connection set-up makes a first request somewhat slower: not a cold start."""
    rng = random.Random(3)
    verdict = cold_start(_columns([80.0] + [rng.uniform(36, 40) for _ in range(40)]))
    assert verdict.change_at_request == 1
    assert verdict.detected is False


def test_no_slow_start_no_detection() -> None:
    rng = random.Random(2)
    verdict = cold_start(_columns([rng.uniform(40, 60) for _ in range(60)]))
    assert verdict.detected is False


def test_too_few_requests_no_verdict() -> None:
    verdict = cold_start(_columns([500, 50, 50, 50]))
    assert verdict.detected is None


def test_usage_share_and_disagreement_with_the_server() -> None:
    columns = _columns([50.0] * 30, cached=25)
    counters = {"prefix_cache_hits": 900.0, "prefix_cache_queries": 3000.0}
    server = ServerMetrics(
        status="scraped", source="test", prefix_cache_hit_rate=0.3, counters=counters
    )
    evidence = cache_evidence(columns, server, [(10, 2.0), (20, 4.0)], clock_origin_ns=0)
    assert evidence.usage.cached_token_share == pytest.approx(0.25)
    assert evidence.disagreement == pytest.approx(0.05)
    assert evidence.batch_size is not None
    assert evidence.batch_size.max == 4.0


def test_without_a_gpu_the_block_is_none() -> None:
    no_gpu = GpuReader(reason="no NVIDIA driver or GPU (test)")
    with ProcessMonitor(interval_s=0.05, target_pid=None, series_path=None, gpus=no_gpu) as m:
        pass
    block = m.summary("not local")
    assert block.gpu == "none"
    assert block.gpu_reason == "no NVIDIA driver or GPU (test)"
    assert block.samples >= 1
    assert block.client["rss_bytes"].max > 0
