"""What a run watches beside its requests: the target's Prometheus metrics and the processes,
host and GPUs under it. `RunWatch` wraps the load; afterwards it gives run.json's
`server_metrics` and `monitors` blocks. Nothing here can fail the run: an endpoint that does
not answer is counted and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from llmbench.clients.scrape import MetricsSource, default_metrics_url
from llmbench.config import RunSpec
from llmbench.monitor.processes import ProcessMonitor, pid_listening_on
from llmbench.monitor.server_metrics import (
    SERIES_FILE,
    ScrapeFailure,
    ServerMetrics,
    ServerMetricsScraper,
    off,
    parse_scrape,
    summarize,
)
from llmbench.redaction import public_url

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def _target_pid(base_url: str, started_pid: int | None) -> tuple[int | None, str]:
    if started_pid is not None:
        return started_pid, "started by llmbench"
    parts = urlsplit(base_url)
    if parts.hostname not in _LOCAL_HOSTS:
        return None, "not local"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pid = pid_listening_on(port)
    return pid, f"listens on port {port}" if pid else f"no visible process listens on {port}"


class RunWatch:
    """`async with RunWatch(spec, base_url, output_dir, ...) as watch:` around the load; then
    `watch.blocks(window_ns)` returns {"server_metrics": ..., "monitors": ...}."""

    def __init__(
        self,
        spec: RunSpec,
        base_url: str,
        output_dir: Path,
        *,
        headers: dict[str, str],
        target_pid: int | None = None,
    ) -> None:
        self.spec = spec
        self.base_url = base_url
        self.output_dir = output_dir
        self._headers = headers
        self._stack = contextlib.AsyncExitStack()
        self._scraper: ServerMetricsScraper | None = None
        self._metrics_off: ServerMetrics | None = None
        self._url: str | None = None
        self._source = ""
        self._pid, self._pid_source = _target_pid(base_url, target_pid)
        self._processes: ProcessMonitor | None = None

    async def __aenter__(self) -> RunWatch:
        await self._start_scraper()
        if self.spec.monitor.processes:
            self._processes = self._stack.enter_context(
                ProcessMonitor(
                    interval_s=self.spec.monitor.sample_interval_s,
                    target_pid=self._pid,
                    series_path=self.output_dir / "monitors.jsonl",
                )
            )
        return self

    async def _start_scraper(self) -> None:
        setting = self.spec.target.server_metrics_url
        if setting == "off":
            self._metrics_off = off("--server-metrics off", "turned off")
            return
        url = setting or default_metrics_url(self.base_url)
        shown = public_url(url)
        self._url, self._source = shown, "--server-metrics URL" if setting else "default"
        monitor = self.spec.monitor
        # The API key goes only to the target's own host, never to another metrics host.
        same_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        headers = self._headers if same_host else {}
        source = await self._stack.enter_async_context(MetricsSource(url, headers))
        if setting is None:  # the default: on only when it answers with metrics, now
            failure = await _probe(source, monitor.server_metrics_timeout_s)
            if failure is not None:
                self._metrics_off = off("default", f"{shown} did not answer: {failure}", shown)
                return
        self._scraper = await self._stack.enter_async_context(
            ServerMetricsScraper(
                source.get,
                interval_s=monitor.server_metrics_interval_s,
                timeout_s=monitor.server_metrics_timeout_s,
                series_path=self.output_dir / SERIES_FILE,
            )
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    def blocks(self, window_ns: tuple[int, int]) -> dict[str, Any]:
        """{"server_metrics": ServerMetrics, "monitors": Monitors | None}."""
        if self._scraper is not None:
            assert self._url is not None
            metrics = summarize(self._scraper, source=self._source, url=self._url,
                                window_ns=window_ns)  # fmt: skip
        else:
            assert self._metrics_off is not None
            metrics = self._metrics_off
        monitors = self._processes.summary(self._pid_source) if self._processes else None
        return {"server_metrics": metrics, "monitors": monitors}

    def running_series(self) -> list[tuple[int, float]]:
        """(t_ns, requests running) per good scrape: the server's batch size over time."""
        if self._scraper is None:
            return []
        return [
            (s.t_ns, s.mapped["requests_running"])
            for s in self._scraper.log.good
            if "requests_running" in s.mapped
        ]


async def _probe(source: MetricsSource, timeout_s: float) -> str | None:
    """None when `source` answers with parsable metrics within `timeout_s`, else why not."""
    try:
        async with asyncio.timeout(timeout_s):
            text = await source.get()
        if not parse_scrape(text):
            return "no samples"
    except TimeoutError:
        return f"no answer within {timeout_s} s"
    except ScrapeFailure as failure:
        return failure.kind
    return None
