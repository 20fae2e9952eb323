"""Server metrics: vLLM, SGLang and TGI texts (written from their documented names) map to the
same fields; deltas over the window, not totals; unknown servers stored, nothing mapped;
failures counted, never raised."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmbench.monitor.metric_maps import choose_map
from llmbench.monitor.server_metrics import (
    GaugeStats,
    ScrapeFailure,
    ServerMetricsScraper,
    mapped_values,
    parse_scrape,
    summarize,
    totals,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _mapped(engine: str) -> dict[str, object]:
    values = totals(parse_scrape((FIXTURES / f"{engine}.prom").read_text()))
    name_map = choose_map(set(values))
    assert name_map is not None
    assert name_map.engine == engine
    return mapped_values(name_map, values)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
def test_each_engines_names_map_to_the_same_fields(engine: str) -> None:
    mapped = _mapped(engine)
    assert mapped["requests_running"] == 7
    assert mapped["requests_waiting"] == 3
    assert mapped["requests_finished"] == 10  # vLLM: summed over its finished_reason labels
    for histogram, mean in (("queue_time_s", 0.25), ("e2e_s", 2.0)):
        h = mapped[histogram]
        assert isinstance(h, dict)
        assert h["count"] == 10
        assert h["sum"] / h["count"] == pytest.approx(mean)
        assert h["buckets"][-1] == ("+Inf", 10)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_prefix_cache_counts_in_tokens(engine: str) -> None:
    mapped = _mapped(engine)
    assert (mapped["prefix_cache_queries"], mapped["prefix_cache_hits"]) == (1000, 400)
    assert mapped["kv_cache_usage"] == 0.25


def test_tgi_lacks_what_it_does_not_expose() -> None:
    mapped = _mapped("tgi")
    assert "kv_cache_usage" not in mapped
    assert "prefix_cache_hits" not in mapped


def test_garbage_is_unparsable() -> None:
    with pytest.raises(ScrapeFailure) as failure:
        parse_scrape("<html><body>Not Found</body></html>\n")
    assert failure.value.kind == "unparsable"


def _texts(hits: list[int], running: list[int]) -> Iterator[str]:
    for h, r in zip(hits, running, strict=True):
        yield (
            f"vllm:prefix_cache_queries_total 1000\nvllm:prefix_cache_hits_total {h}\n"
            f"vllm:num_requests_running {r}\n"
            'vllm:e2e_request_latency_seconds_bucket{le="+Inf"} ' + f"{h}\n"
            f"vllm:e2e_request_latency_seconds_count {h}\n"
            f"vllm:e2e_request_latency_seconds_sum {h}\n"
        )


def _scrape_all(texts: Iterator[str], path: Path | None = None) -> ServerMetricsScraper:
    async def fetch() -> str:
        text = next(texts)
        if text == "garbage":
            return "this is { not prometheus"
        return text

    scraper = ServerMetricsScraper(fetch, interval_s=60, timeout_s=1, series_path=path)

    async def main() -> None:
        async with scraper:  # one scrape on entry, one on exit
            await scraper.scrape()
            await scraper.scrape()

    asyncio.run(main())
    return scraper


def test_deltas_over_the_window_not_totals(tmp_path: Path) -> None:
    # A server that already served 100 hits; the window runs from scrape 1 to scrape 3.
    scraper = _scrape_all(_texts([100, 100, 130, 160], [0, 4, 6, 0]), tmp_path / "s.jsonl")
    good = scraper.log.good
    block = summarize(scraper, source="default", url="u", window_ns=(good[1].t_ns, good[3].t_ns))
    assert block.engine == "vllm"
    assert block.counters["prefix_cache_hits"] == 60
    assert block.counters["prefix_cache_queries"] == 0  # constant in the fixture
    assert block.histograms["e2e_s"].count == 60
    assert block.gauges["requests_running"] == GaugeStats(mean=10 / 3, max=6, samples=3)
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert json.loads(lines[0])["samples"]["vllm:prefix_cache_hits_total"] == 100


def test_a_counter_that_went_down_is_no_delta() -> None:
    scraper = _scrape_all(_texts([100, 100, 5, 9], [0, 0, 0, 0]))
    good = scraper.log.good
    block = summarize(scraper, source="default", url="u", window_ns=(good[0].t_ns, good[3].t_ns))
    assert block.counters["prefix_cache_hits"] is None  # the server restarted in the window


def test_unknown_server_is_stored_and_mapped_to_nothing(tmp_path: Path) -> None:
    texts = iter(["my_app_requests_total 1\nmy_gauge 2\n"] * 4)
    scraper = _scrape_all(texts, tmp_path / "s.jsonl")
    block = summarize(scraper, source="default", url="u", window_ns=(0, 2**62))
    assert block.status == "scraped"
    assert block.engine is None
    assert block.counters == {}
    assert block.reason is not None
    assert "unknown server" in block.reason
    assert "none mapped" in block.reason
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 4


def test_failures_are_counted_not_raised() -> None:
    texts = iter(["garbage", "vllm:num_requests_running 1\n", "garbage", "garbage"])
    scraper = _scrape_all(texts)
    assert scraper.log.failures == {"unparsable": 3}
    block = summarize(scraper, source="default", url="u", window_ns=(0, 2**62))
    assert block.scrapes == 4
    assert block.failures == {"unparsable": 3}
    assert block.gauges["requests_running"].max == 1


def test_a_hanging_fetch_times_out() -> None:
    async def hang() -> str:
        await asyncio.sleep(60)
        return ""

    scraper = ServerMetricsScraper(hang, interval_s=60, timeout_s=0.05, series_path=None)
    asyncio.run(scraper.scrape())
    assert scraper.log.failures == {"timeout": 1}


def test_scrapes_are_parsed_after_the_load_not_in_its_event_loop(tmp_path: Path) -> None:
    """During the run a scrape only keeps the text (raw file beside the series); parsing
    (milliseconds for a real engine's page) waits for the exit, after the load."""
    series = tmp_path / "s.jsonl"
    seen_inside: list[tuple[int, int, bool]] = []
    texts = iter(["garbage", *_texts([1, 2], [0, 0])])

    async def fetch() -> str:
        text = next(texts)
        return "this is { not prometheus" if text == "garbage" else text

    scraper = ServerMetricsScraper(fetch, interval_s=60, timeout_s=1, series_path=series)

    async def main() -> None:
        async with scraper:
            await scraper.scrape()
            log = scraper.log
            raw = series.with_name(series.name + ".raw")
            seen_inside.append((len(log.good), len(log.failures), raw.exists()))

    asyncio.run(main())
    assert seen_inside == [(0, 0, True)]  # nothing parsed yet; the texts in the raw file
    assert scraper.log.failures == {"unparsable": 1}
    assert len(scraper.log.good) == 2
    assert not series.with_name(series.name + ".raw").exists()
    lines = [json.loads(line) for line in series.read_text().splitlines()]
    assert [("error" in line, "samples" in line) for line in lines] == [
        (True, False), (False, True), (False, True)
    ]  # fmt: skip
