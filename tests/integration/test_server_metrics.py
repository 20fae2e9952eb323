"""Server metrics and monitors in real runs against the simulator over loopback: counter deltas
equal what the simulator's log says happened in the window, the prefix-cache hit rate equals the
twin's own counters and the usage's cached tokens, and a /metrics that answers 404, garbage or
hangs neither fails nor slows the measured run."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from aiohttp import web

from llmbench.config import RunSpec, TargetSpec
from llmbench.run.watching import RunWatch
from support.cli import llmbench

from .conftest import StartSim

PREFIX_RUN = ["--prefix-tokens", "1024", "--input-tokens", "1100", "--output-tokens", "8"]


def _run(out: Path, *args: str) -> dict[str, Any]:
    result = llmbench("run", *args, "--output-dir", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text())  # type: ignore[no-any-return]


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def _sim_log(base_url: str) -> list[dict[str, Any]]:
    with urlopen(f"{base_url}/sim/log", timeout=5) as response:
        return json.loads(response.read())["requests"]  # type: ignore[no-any-return]


def test_deltas_cover_the_window_not_the_servers_past(start_sim: StartSim, tmp_path: Path) -> None:
    base_url = start_sim(extra_args=["--preset", "cloud-warm"])
    # Traffic before the run: the server's totals include it, the run's deltas must not.
    _run(tmp_path / "before", "--base-url", base_url, "--requests", "5", *PREFIX_RUN)
    run = _run(tmp_path / "run", "--base-url", base_url, "--requests", "24", "--warmup", "2",
               "--concurrency", "4", "--server-metrics-interval", "0.2", *PREFIX_RUN)  # fmt: skip
    block = run["server_metrics"]
    assert (block["status"], block["source"], block["engine"]) == ("scraped", "default", "vllm")
    assert block["simulator"] is True
    assert block["failures"] == {}
    window = block["window"]
    in_window = [
        e for e in _sim_log(base_url) if window["start_ns"] <= e["received_ns"] <= window["end_ns"]
    ]
    assert len(in_window) == 26  # warm-up included: the window opens before it (documented)
    assert block["counters"]["requests_finished"] == len(in_window)
    assert block["histograms"]["e2e_s"]["count"] == len(in_window)
    assert block["counters"]["preemptions"] == 0
    # Everything the client saw cached (usage) is what the server counted as prefix hits.
    records = _records(tmp_path / "run")
    assert block["counters"]["prefix_cache_hits"] == sum(r["cached_tokens"] for r in records)
    assert block["counters"]["prefix_cache_hits"] > 0
    e2e_mean_s = block["histograms"]["e2e_s"]["mean"]
    client_mean_s = sum(r["end_ns"] - r["sent_ns"] for r in records) / len(records) / 1e9
    assert e2e_mean_s <= client_mean_s  # the server's part of a request is inside the client's
    assert block["gauges"]["requests_running"]["max"] <= 4
    # The server's parts of a request lie inside the client's (2 ms: the clocks' rounding).
    parts = run["decomposition"]["parts"]
    server_first_ms = 1e3 * sum(
        block["histograms"][k]["mean"] for k in ("queue_time_s", "prefill_time_s")
    )
    assert server_first_ms <= parts["first_token_wait"]["mean_ms"] + 2
    assert 1e3 * block["histograms"]["decode_time_s"]["mean"] <= parts["decode"]["mean_ms"] + 2
    # A simulator at a URL is any vLLM-named server: queue and prefill are apportioned.
    assert run["decomposition"]["split"] == "apportioned"
    assert run["decomposition"]["sum_check_max_ms"] < 1  # the parts sum to E2E per request
    # The run's means are the server's (its phases fit in the client's wait), the rest other.
    for part, histogram in (("queue_wait", "queue_time_s"), ("prefill", "prefill_time_s")):
        server_ms = 1e3 * block["histograms"][histogram]["mean"]
        assert parts[part]["mean_ms"] == pytest.approx(server_ms, rel=1e-9, abs=1e-9)
    estimated = sum(parts[p]["mean_ms"] for p in ("queue_wait", "prefill", "first_token_other"))
    assert estimated == pytest.approx(parts["first_token_wait"]["mean_ms"])


def test_the_fixed_timing_simulator_reports_what_it_received(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=20.0, itl_ms=2.0)
    run = _run(tmp_path / "run", "--base-url", base_url, "--requests", "20", "--warmup", "0",
               "--concurrency", "2", "--output-tokens", "8",
               "--server-metrics-interval", "0.2")  # fmt: skip
    block = run["server_metrics"]
    assert (block["status"], block["engine"], block["simulator"]) == (
        "scraped", "llmbench-sim", True
    )  # fmt: skip
    window = block["window"]
    in_window = [
        e for e in _sim_log(base_url) if window["start_ns"] <= e["received_ns"] <= window["end_ns"]
    ]
    assert len(in_window) == 20
    assert block["counters"]["requests_received"] == len(in_window)


def test_hit_rate_equals_the_twins_counters(tmp_path: Path) -> None:
    run = _run(tmp_path, "--sim-preset", "cloud-warm", "--requests", "12", "--concurrency", "2",
               *PREFIX_RUN)  # fmt: skip
    block = run["server_metrics"]
    lines = (tmp_path / "server_metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])["samples"]
    # A fresh embedded server: the twin's lifetime block hit rate is the run's.
    assert block["prefix_cache_hit_rate"] == pytest.approx(last["llmbench_sim_prefix_hit_rate"])
    assert 0 < block["prefix_cache_hit_rate"] < 1
    cache = run["cache"]
    assert cache["usage"]["cached_token_share"] > 0
    assert cache["server"]["hit_rate"] == block["prefix_cache_hit_rate"]


def test_monitors_sample_client_target_and_host_without_a_gpu(tmp_path: Path) -> None:
    run = _run(tmp_path, "--requests", "30", "--concurrency", "4", "--sim-ttft-ms", "20",
               "--sim-itl-ms", "20", "--output-tokens", "40")  # fmt: skip
    monitors = run["monitors"]
    assert monitors["samples"] >= 1
    assert monitors["target_pid_source"] == "started by llmbench"
    assert monitors["client"]["cpu_percent"]["max"] > 0
    assert monitors["target"]["rss_bytes"]["max"] > 0
    assert monitors["host"]["cpu_percent"]["max"] >= 0
    try:
        import pynvml

        pynvml.nvmlInit()
        has_gpu = pynvml.nvmlDeviceGetCount() > 0
    except Exception:  # noqa: BLE001 - any failure here means: no GPU to compare with
        has_gpu = False
    if not has_gpu:
        assert monitors["gpu"] == "none"
        assert monitors["gpu_reason"]
    lines = (tmp_path / "monitors.jsonl").read_text().splitlines()
    t0 = run["clock"]["monotonic_ns_at_start"]
    assert all(json.loads(line)["t_ns"] >= t0 for line in lines)  # the run's monotonic clock


class _BadMetrics:
    """A /metrics that answers 404, garbage, or never, on its own loopback port."""

    def __init__(self) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _main(self) -> None:
        async def not_found(request: web.Request) -> web.Response:
            return web.Response(status=404, text="no metrics here")

        async def garbage(request: web.Request) -> web.Response:
            return web.Response(text="<html>{ this is not prometheus</html>")

        async def hang(request: web.Request) -> web.Response:
            await asyncio.sleep(3600)
            return web.Response(text="")

        app = web.Application()
        app.router.add_get("/404", not_found)
        app.router.add_get("/garbage", garbage)
        app.router.add_get("/hang", hang)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> _BadMetrics:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@pytest.fixture
def bad_metrics() -> Iterator[_BadMetrics]:
    with _BadMetrics() as server:
        yield server


@pytest.mark.parametrize(("path", "kind"), [("/404", "http_404"), ("/garbage", "unparsable"),
                                            ("/hang", "timeout")])  # fmt: skip
def test_a_broken_metrics_endpoint_neither_fails_nor_slows_the_run(
    bad_metrics: _BadMetrics, tmp_path: Path, path: str, kind: str
) -> None:
    url = f"http://127.0.0.1:{bad_metrics.port}{path}"
    started = time.monotonic()
    run = _run(tmp_path, "--requests", "20", "--concurrency", "4", "--sim-ttft-ms", "20",
               "--sim-itl-ms", "5", "--output-tokens", "20", "--server-metrics", url,
               "--server-metrics-interval", "0.2")  # fmt: skip
    wall_s = time.monotonic() - started
    block = run["server_metrics"]
    assert run["status"] == "complete"
    assert run["summary"]["error_rate"] == 0
    assert len(_records(tmp_path)) == 20
    assert block["status"] == "off"
    assert block["reason"] == "no scrape succeeded"
    assert set(block["failures"]) == {kind}
    assert block["failures"][kind] == block["scrapes"] >= 2
    # A hang costs at most one 1 s timeout before the load and one after, never inside it.
    assert run["engine"]["measured"]["duration_s"] < 2.0
    assert wall_s < 30


def test_default_is_silently_off_when_metrics_do_not_answer(
    bad_metrics: _BadMetrics, tmp_path: Path
) -> None:
    # The bad server's root has no /metrics route: aiohttp answers 404.
    spec = RunSpec(target=TargetSpec(base_url=f"http://127.0.0.1:{bad_metrics.port}/v1"))

    async def watch() -> dict[str, Any]:
        async with RunWatch(spec, spec.target.base_url or "", tmp_path, headers={}) as w:
            await asyncio.sleep(0.05)
        return w.blocks((0, 1))

    block = asyncio.run(watch())["server_metrics"]
    assert (block.status, block.source) == ("off", "default")
    assert block.reason == f"http://127.0.0.1:{bad_metrics.port}/metrics did not answer: http_404"
    assert not (tmp_path / "server_metrics.jsonl").exists()
