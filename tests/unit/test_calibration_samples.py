"""Samples and validation rows of `sim calibrate` from hand-built records: warm-up and failed
requests never become samples, cached tokens come off the prompt, open loops give none, and
comparisons are grouped by the nearest load level; runs of varied lengths give no decode sample
and form their own "mixed" row."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import pytest

from llmbench.prediction.calibrate import run_samples
from llmbench.prediction.validate import Comparison, by_load_level
from llmbench.records import ErrorCategory, RequestError, RequestRecord, Status
from llmbench.store.results import LoadedRun
from support.runs import run_with

MS = 1_000_000


def record(index: int, ttft_ms: int, gaps_ms: list[int], **fields: Any) -> RequestRecord:
    offsets = [ttft_ms * MS]
    for gap in gaps_ms:
        offsets.append(offsets[-1] + gap * MS)
    sent = index * 1000 * MS
    return RequestRecord(
        f"r{index}", "t", f"req-{index}", 0, fields.pop("status", Status.OK), sent, sent,
        first_token_ns=sent + offsets[0], end_ns=sent + offsets[-1],
        chunk_offsets_ns=array("q", offsets), input_tokens=512,
        output_tokens=len(offsets), **fields,
    )  # fmt: skip


def loaded(
    records: list[RequestRecord], workload: dict[str, Any] | None = None, **load: Any
) -> LoadedRun:
    spec = {"load": {"profile": "concurrency", "requests": 10, **load}, "workload": workload or {}}
    return LoadedRun(Path("run"), run_with(spec), records)


def test_warmup_and_failed_requests_are_no_samples_and_cached_tokens_come_off() -> None:
    failed = RequestError(ErrorCategory.HTTP_5XX, "boom", 500)
    records = [
        record(0, 900, [90, 90], warmup=True),  # a cold first request: 900 ms, not a sample
        record(1, 40, [10, 12]),  # TTFT 40 ms; gaps 10, 12 ms
        record(2, 20, [10, 30], cached_tokens=256),  # half the prompt from the prefix cache
        record(3, 5, [1], status=Status.ERROR, error=failed),
    ]
    ttft, itl = run_samples(loaded(records, concurrency=1))
    assert [(s.uncached_tokens, s.cached_tokens) for s in ttft] == [(512, 0), (256, 256)]
    assert [s.ttft_s for s in ttft] == pytest.approx([0.040, 0.020])
    (decode,) = itl
    # median of the ok measured gaps 10, 12, 10, 30 = 11 ms; context 512 + 3/2 tokens
    assert (decode.batch, decode.itl_s, decode.context_tokens) == (1, pytest.approx(0.011), 513.5)


def test_higher_concurrency_gives_decode_only_and_open_loops_nothing() -> None:
    records = [record(i, 50, [10, 10]) for i in range(4)]
    ttft, itl = run_samples(loaded(records, concurrency=4))
    assert ttft == []
    assert [s.batch for s in itl] == [4]
    assert run_samples(loaded(records, profile="poisson", rate=2.0)) == ([], [])


def test_validation_rows_are_grouped_by_the_nearest_load_level() -> None:
    def row(fraction: float | None, error: float) -> Comparison:
        return Comparison("r", fraction, 10, {}, {}, {"ttft_ms.mean": error})

    rows = [row(0.2, 0.1), row(0.3, -0.3), row(0.55, 0.05), row(0.9, -0.2), row(None, 1.0)]
    levels = by_load_level(rows)
    assert levels["25%"] == {"runs": 2.0, "ttft_ms.mean": pytest.approx(0.2)}  # |0.1|, |−0.3|
    assert levels["50%"]["ttft_ms.mean"] == pytest.approx(0.05)
    assert levels["85%"]["ttft_ms.mean"] == pytest.approx(0.2)


def test_a_run_of_varied_lengths_gives_no_decode_sample() -> None:
    """Its batches mix contexts: the equal-context decode model would misread the gaps."""
    records = [record(i, 50, [10, 10]) for i in range(4)]
    mix = {"input_mix": [[128, 0.9], [4096, 0.1]]}
    assert run_samples(loaded(records, mix, concurrency=4)) == ([], [])
    ttft, itl = run_samples(loaded(records, {"input_tokens_stddev": 50.0}, concurrency=1))
    assert len(ttft) == 4  # each request's own prompt length: still a low-load TTFT sample
    assert itl == []


def test_runs_of_varied_lengths_are_their_own_validation_row() -> None:
    def row(fraction: float, error: float, mixed: bool) -> Comparison:
        return Comparison("r", fraction, 10, {}, {}, {"ttft_ms.mean": error}, mixed)

    levels = by_load_level([row(0.5, 0.1, False), row(0.5, -0.4, True), row(0.6, 0.2, True)])
    assert levels["50%"] == {"runs": 1.0, "ttft_ms.mean": pytest.approx(0.1)}
    assert levels["mixed"] == {"runs": 2.0, "ttft_ms.mean": pytest.approx(0.3)}
