"""Sweep rates and the SLO search against pure fake probes (no server)."""

from __future__ import annotations

import asyncio

import pytest

from llmbench.study.search import Probe, Verdict, classify, slo_search, sweep_rates


def test_sweep_rates_are_evenly_spaced_between() -> None:
    assert sweep_rates(2.0, 12.0, 4) == pytest.approx([4.0, 6.0, 8.0, 10.0])
    with pytest.raises(ValueError, match="not above"):
        sweep_rates(5.0, 5.0, 3)


def test_classify() -> None:
    assert classify(met=True) is Verdict.STABLE
    assert classify(met=True, valid=False) is Verdict.INVALID  # no verdict on the server
    assert classify(met=False, latency_growth=1.2, error_rate=0) is Verdict.BACKLOGGED
    assert classify(met=False, latency_growth=3.0, error_rate=0) is Verdict.OVERLOADED
    assert classify(met=False, latency_growth=None, error_rate=0.5) is Verdict.OVERLOADED


def fake(capacity: float) -> tuple[list[float], object]:
    tried: list[float] = []

    async def probe(value: float) -> Probe:
        tried.append(value)
        verdict = Verdict.STABLE if value <= capacity else Verdict.BACKLOGGED
        return Probe(value, verdict)

    return tried, probe


def test_rate_search_brackets_then_bisects() -> None:
    tried, probe = fake(capacity=13.0)
    result = asyncio.run(slo_search(probe, start=1.0, rel_tolerance=0.05))  # type: ignore[arg-type]
    assert tried[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]  # doubling until it fails
    assert result.best is not None
    assert 13.0 * 0.95 <= result.best <= 13.0
    assert len(result.probes) == len(tried) <= 12


def test_search_halves_down_when_the_start_fails() -> None:
    tried, probe = fake(capacity=3.0)
    result = asyncio.run(slo_search(probe, start=20.0, rel_tolerance=0.1))  # type: ignore[arg-type]
    assert tried[:4] == [20.0, 10.0, 5.0, 2.5]
    assert result.best is not None
    assert 2.7 <= result.best <= 3.0


def test_integer_search_finds_the_exact_edge() -> None:
    tried, probe = fake(capacity=11.0)
    result = asyncio.run(slo_search(probe, start=4, integer=True))  # type: ignore[arg-type]
    assert result.best == 11.0
    assert all(v == int(v) for v in tried)


def test_search_reports_none_when_nothing_passes() -> None:
    _, probe = fake(capacity=0.5)
    assert asyncio.run(slo_search(probe, start=2, integer=True)).best is None  # type: ignore[arg-type]
