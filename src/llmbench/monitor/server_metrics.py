"""Server-side metrics: a Prometheus endpoint scraped during a run, every scrape kept in
`server_metrics.jsonl`, and run.json's `server_metrics` block — the mapped gauges' mean and
max and the counters' and histograms' deltas over the measured window (not totals since the
server started). Parsed by prometheus-client's parser; fetched through a callable the caller
owns, so this layer does no HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict

from llmbench.monitor.metric_maps import SIM_MARKER, NameMap, choose_map

SERIES_FILE = "server_metrics.jsonl"


class ScrapeFailure(Exception):
    """A scrape that brought no metrics; `kind` is counted (timeout, http_404, connection...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


Fetch = Callable[[], Awaitable[str]]


def parse_scrape(text: str) -> dict[str, float]:
    """Every sample of a Prometheus text exposition, keyed `name{label="v",...}` (labels
    sorted); ScrapeFailure('unparsable') for text that is not one."""
    samples: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise ScrapeFailure("unparsable") from exc
    return samples


def totals(samples: dict[str, float]) -> dict[str, float]:
    """Values summed over label sets (models, ranks), except `le`: `name` or `name|le`.
    NaN and infinite samples are left out: results files are strict JSON."""
    summed: dict[str, float] = {}
    for key, value in samples.items():
        if not math.isfinite(value):
            continue
        name, _, labels = key.partition("{")
        le = next((p[4:-1] for p in labels.rstrip("}").split(",") if p.startswith("le=")), None)
        out = f"{name}|{le}" if le is not None else name
        summed[out] = summed.get(out, 0.0) + value
    return summed


def _first(names: tuple[str, ...], values: dict[str, float]) -> str | None:
    return next((n for n in names if n in values), None)


def mapped_values(name_map: NameMap, values: dict[str, float]) -> dict[str, Any]:
    """One scrape's totals under llmbench's field names (fields the server lacks: absent)."""
    out: dict[str, Any] = {}
    for fields in (name_map.gauges, name_map.counters):
        for fieldname, names in fields.items():
            if (name := _first(names, values)) is not None:
                out[fieldname] = values[name]
    for fieldname, names in name_map.histograms.items():
        name = _first(tuple(f"{n}_count" for n in names), values)
        if name is None:
            continue
        base = name.removesuffix("_count")
        buckets = sorted(
            ((k.split("|", 1)[1], v) for k, v in values.items() if k.startswith(base + "_bucket|")),
            key=lambda bucket: float(bucket[0]),  # `le` kept as text: "+Inf" is not JSON
        )
        out[fieldname] = {"count": values[name], "sum": values.get(base + "_sum", 0.0),
                          "buckets": buckets}  # fmt: skip
    return out


@dataclass(slots=True)
class _Scrape:
    t_ns: int
    mapped: dict[str, Any]


@dataclass(slots=True)
class ScrapeLog:
    """What the scraper saw: mapped values per good scrape, failures counted by kind."""

    name_map: NameMap | None = None
    simulator: bool = False
    names_seen: int = 0
    good: list[_Scrape] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


class ServerMetricsScraper:
    """`async with ServerMetricsScraper(fetch, ...)`: one scrape on entry, one every
    `interval_s`, one on exit; each bounded by `timeout_s`, so a hanging endpoint costs the
    run at most one timeout at each end and never fails it.

    During the run a scrape only fetches the text and appends it, as it came, to a raw file
    (memory without a series path): parsing a real engine's page (hundreds of lines, ~9 µs
    each in prometheus-client's pure-Python parser) would block the event loop that stamps
    the requests' timestamps for milliseconds. The texts are parsed on exit, after the load."""

    def __init__(
        self, fetch: Fetch, *, interval_s: float, timeout_s: float, series_path: Path | None
    ) -> None:
        self._fetch = fetch
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.log = ScrapeLog()
        self._series_path = series_path
        self._raw: BinaryIO | None = None  # open between __aenter__ and __aexit__
        self._kept: list[tuple[int, str]] = []  # the texts, when there is no series file
        self._task: asyncio.Task[None] | None = None

    @property
    def _raw_path(self) -> Path | None:
        path = self._series_path
        return None if path is None else path.with_name(path.name + ".raw")

    async def scrape(self) -> None:
        t_ns = time.monotonic_ns()
        try:
            async with asyncio.timeout(self.timeout_s):
                text = await self._fetch()
        except TimeoutError:
            self._failed(t_ns, "timeout")
            return
        except ScrapeFailure as failure:
            self._failed(t_ns, failure.kind)
            return
        if self._raw is not None:
            self._raw.write(orjson.dumps({"t_ns": t_ns, "text": text}) + b"\n")
        else:
            self._kept.append((t_ns, text))

    def _failed(self, t_ns: int, kind: str) -> None:
        self.log.failures[kind] = self.log.failures.get(kind, 0) + 1
        if self._raw is not None:
            self._raw.write(orjson.dumps({"t_ns": t_ns, "error": kind}) + b"\n")

    def _ingest(self) -> None:
        """Parses the texts kept during the run into the log and the series file (every
        sample of each scrape, or its failure), in scrape order."""
        series = None if self._series_path is None else self._series_path.open("ab")
        try:
            for t_ns, text, error in self._kept_scrapes():
                line: dict[str, Any] = {"t_ns": t_ns}
                if error is None:
                    try:
                        line["samples"] = self._take(t_ns, text)
                    except ScrapeFailure as failure:
                        self.log.failures[failure.kind] = self.log.failures.get(failure.kind, 0) + 1
                        line["error"] = failure.kind
                else:
                    line["error"] = error
                if series is not None:
                    series.write(orjson.dumps(line) + b"\n")
        finally:
            if series is not None:
                series.close()

    def _kept_scrapes(self) -> Iterator[tuple[int, str, str | None]]:
        raw_path = self._raw_path
        if raw_path is None:
            yield from ((t_ns, text, None) for t_ns, text in self._kept)
            return
        with raw_path.open("rb") as raw:
            for line in raw:
                entry = orjson.loads(line)
                yield entry["t_ns"], entry.get("text", ""), entry.get("error")
        raw_path.unlink()

    def _take(self, t_ns: int, text: str) -> dict[str, float]:
        samples = parse_scrape(text)
        values = totals(samples)
        log = self.log
        if log.name_map is None and not log.good:
            log.name_map = choose_map(set(values))
            log.simulator = any(k.startswith(SIM_MARKER) for k in values)
        log.names_seen = max(log.names_seen, len(samples))
        mapped = mapped_values(log.name_map, values) if log.name_map else {}
        log.good.append(_Scrape(t_ns, mapped))
        return samples

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.scrape()

    async def __aenter__(self) -> ServerMetricsScraper:
        if (raw_path := self._raw_path) is not None:
            self._raw = raw_path.open("wb")
        await self.scrape()
        self._task = asyncio.ensure_future(self._loop())  # owned: cancelled in __aexit__
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            if exc is None:
                await self.scrape()  # the end of the window
        finally:
            if self._raw is not None:
                self._raw.close()
                self._raw = None
            self._ingest()  # after the load: the parsing cost is off the measured loop


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ScrapeWindow(_Frozen):
    """The scrapes the deltas are taken between (monotonic ns), and the measured window."""

    start_ns: int
    end_ns: int
    measured_ns: list[int]
    scrapes: int


class GaugeStats(_Frozen):
    """A gauge's mean and max over the window's scrapes that had it."""

    mean: float
    max: float
    samples: float  # a count, written as a float as before (the block was float-typed)


class HistogramDelta(_Frozen):
    """A histogram's count, sum and buckets (`le` as text, cumulative) over the window."""

    count: float
    sum: float
    mean: float | None
    buckets: list[tuple[str, float]]


class ServerMetrics(_Frozen):
    """run.json's `server_metrics` block."""

    status: str  # scraped | off
    source: str  # --server-metrics URL | default <root>/metrics | --server-metrics off
    url: str | None = None
    reason: str | None = None  # why off, or what is missing
    engine: str | None = None  # whose names were mapped; None: unknown server, nothing mapped
    simulator: bool = False
    interval_s: float | None = None
    timeout_s: float | None = None
    scrapes: int = 0
    failures: dict[str, int] = {}
    file: str | None = None
    window: ScrapeWindow | None = None
    gauges: dict[str, GaugeStats] = {}
    counters: dict[str, float | None] = {}
    histograms: dict[str, HistogramDelta] = {}
    prefix_cache_hit_rate: float | None = None


def off(source: str, reason: str, url: str | None = None) -> ServerMetrics:
    return ServerMetrics(status="off", source=source, url=url, reason=reason)


def summarize(
    scraper: ServerMetricsScraper, *, source: str, url: str, window_ns: tuple[int, int]
) -> ServerMetrics:
    """The block for a run whose measured window was `window_ns` (monotonic): counters and
    histograms as the difference between the last good scrape at or before its start and
    the first at or after its end (the nearest ones inside, when there are none outside)."""
    log = scraper.log
    common = {
        "source": source, "url": url, "interval_s": scraper.interval_s,
        "timeout_s": scraper.timeout_s, "scrapes": len(log.good) + sum(log.failures.values()),
        "failures": dict(log.failures), "file": SERIES_FILE, "simulator": log.simulator,
    }  # fmt: skip
    if not log.good:
        return ServerMetrics(status="off", reason="no scrape succeeded", **common)
    if log.name_map is None:
        reason = (
            f"unknown server: all {log.names_seen} samples stored in {SERIES_FILE}, none mapped"
        )
        return ServerMetrics(status="scraped", reason=reason, **common)
    first, last = _window(log.good, window_ns)
    inside = [s for s in log.good if first.t_ns <= s.t_ns <= last.t_ns]
    counters = {k: _delta(first.mapped.get(k), last.mapped.get(k)) for k in log.name_map.counters}
    counters = {k: v for k, v in counters.items() if k in last.mapped}
    queries, hits = counters.get("prefix_cache_queries"), counters.get("prefix_cache_hits")
    return ServerMetrics(
        status="scraped",
        engine=log.name_map.engine,
        window=ScrapeWindow(
            start_ns=first.t_ns,
            end_ns=last.t_ns,
            measured_ns=list(window_ns),
            scrapes=len(inside),
        ),
        gauges=_gauges(log.name_map, inside),
        counters=counters,
        histograms={
            k: _histogram_delta(first.mapped[k], last.mapped[k])
            for k in log.name_map.histograms
            if k in first.mapped and k in last.mapped
        },
        prefix_cache_hit_rate=hits / queries if queries and hits is not None else None,
        **common,
    )


def _window(good: list[_Scrape], window_ns: tuple[int, int]) -> tuple[_Scrape, _Scrape]:
    start_ns, end_ns = window_ns
    before = [s for s in good if s.t_ns <= start_ns]
    after = [s for s in good if s.t_ns >= end_ns]
    return (before[-1] if before else good[0]), (after[0] if after else good[-1])


def _delta(a: float | None, b: float | None) -> float | None:
    """None when the counter went down: the server restarted inside the window."""
    if a is None or b is None or b < a:
        return None
    return b - a


def _gauges(name_map: NameMap, scrapes: list[_Scrape]) -> dict[str, GaugeStats]:
    out: dict[str, GaugeStats] = {}
    for k in name_map.gauges:
        values = [s.mapped[k] for s in scrapes if k in s.mapped]
        if values:
            mean = sum(values) / len(values)
            out[k] = GaugeStats(mean=mean, max=max(values), samples=len(values))
    return out


def _histogram_delta(a: dict[str, Any], b: dict[str, Any]) -> HistogramDelta:
    count = b["count"] - a["count"]
    total = b["sum"] - a["sum"]
    before = dict(a["buckets"])
    buckets = [(le, n - before.get(le, 0.0)) for le, n in b["buckets"]]
    return HistogramDelta(count=count, sum=total, mean=total / count if count > 0 else None,
                          buckets=buckets)  # fmt: skip
